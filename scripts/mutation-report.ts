/**
 * Writes test/mutation/latest.md from every module's state file (Stryker's incremental file, in the
 * mutation-testing-report JSON schema): the score per file, then each survivor and each mutant
 * marked equivalent, with where it is and what it changed. Running one module refreshes its part only.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { MUTATION_FLOOR, MUTATION_SCOPE, MUTATION_TARGET } from '../test/mutation/scope.js';

interface ReportMutant {
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number } };
  status: string;
  statusReason?: string;
}
interface Report {
  files: Record<string, { mutants: ReportMutant[] }>;
}

const REPORT = 'test/mutation/latest.md';

export const stateFileOf = (file: string) => `test/mutation/state/${file.replace(/[/\\]/g, '__').replace(/\.ts$/, '')}.json`;

/** Stryker's mutation score: killed (timeouts included) over every valid mutant, covered or not. */
export function scoreOf(statuses: readonly string[]): number | null {
  const count = (...s: string[]) => statuses.filter((x) => s.includes(x)).length;
  const killed = count('Killed', 'Timeout');
  const valid = killed + count('Survived', 'NoCoverage');
  return valid === 0 ? null : (100 * killed) / valid;
}

const oneLine = (s: string | undefined, max = 70) => {
  const flat = (s ?? '').replace(/\s+/g, ' ').trim();
  return (flat.length > max ? flat.slice(0, max - 1) + '…' : flat).replace(/\|/g, '\\|').replace(/`/g, "'");
};

export function writeReport(): void {
  const rows: string[] = [];
  const survivors: string[] = [];
  const equivalents: string[] = [];
  for (const { file } of MUTATION_SCOPE) {
    const state = stateFileOf(file);
    if (!existsSync(state)) {
      rows.push(`| ${file} | not run yet | | | | |`);
      continue;
    }
    const report = JSON.parse(readFileSync(state, 'utf8')) as Report;
    const mutants = Object.values(report.files)
      .flatMap((f) => f.mutants)
      .sort((a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column);
    const n = (s: string) => mutants.filter((m) => m.status === s).length;
    const score = scoreOf(mutants.map((m) => m.status));
    const mark = score === null ? '' : score < MUTATION_FLOOR ? ' ✗' : score < MUTATION_TARGET ? ' (below target)' : '';
    rows.push(
      `| ${file} | ${score === null ? '–' : score.toFixed(1) + '%'}${mark} | ${n('Killed') + n('Timeout')} | ${n('Survived')} | ${n('NoCoverage')} | ${n('Ignored')} |`,
    );
    const at = (m: ReportMutant) => `${file}:${m.location.start.line}:${m.location.start.column}`;
    for (const m of mutants) {
      if (m.status === 'Survived' || m.status === 'NoCoverage') {
        survivors.push(`| ${at(m)} | ${m.mutatorName} | \`${oneLine(m.replacement)}\` | ${m.status === 'NoCoverage' ? 'no test reaches it' : 'survived'} |`);
      } else if (m.status === 'Ignored') {
        equivalents.push(`| ${at(m)} | ${m.mutatorName} | ${oneLine(m.statusReason, 160)} |`);
      }
    }
  }
  const text = [
    '# Mutation testing: latest results',
    '',
    'Written by `npm run test:mutation` (docs/testing.md). Score = killed (timeouts included) / valid mutants',
    `(survived and uncovered included). Target ${MUTATION_TARGET}% per file; below ${MUTATION_FLOOR}% fails.`,
    '',
    '| file | score | killed | survived | no coverage | equivalent |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    '## Survivors',
    '',
    ...(survivors.length === 0 ? ['None.'] : ['| where | mutator | replacement | status |', '|---|---|---|---|', ...survivors]),
    '',
    '## Marked equivalent (not counted)',
    '',
    ...(equivalents.length === 0 ? ['None.'] : ['| where | mutator | why it changes nothing a user can observe |', '|---|---|---|', ...equivalents]),
    '',
  ].join('\n');
  writeFileSync(REPORT, text);
}

if (process.argv[1]?.endsWith('mutation-report.ts')) writeReport();
