/**
 * `npm run test:mutation [file…] [--incremental]`: Stryker on every module in test/mutation/scope.ts
 * (or the named ones), one module at a time against its own test files, then rewrites
 * test/mutation/latest.md from every module's last result. See docs/testing.md.
 *
 * Each module's results are kept in test/mutation/state/<module>.json (Stryker's incremental file,
 * committed): `--incremental` re-tests only the mutants whose code or tests changed since.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { Stryker } from '@stryker-mutator/core';
import { MUTATION_FLOOR, MUTATION_SCOPE } from '../test/mutation/scope.js';
import { scoreOf, stateFileOf, writeReport } from './mutation-report.js';

const args = process.argv.slice(2);
const incremental = args.includes('--incremental');
const wanted = args.filter((a) => !a.startsWith('--')).map((a) => a.replace(/^\.\//, ''));
const unknown = wanted.filter((w) => !MUTATION_SCOPE.some((m) => m.file === w));
if (unknown.length > 0) {
  console.error(`not in test/mutation/scope.ts: ${unknown.join(', ')}`);
  process.exit(2);
}
const modules = MUTATION_SCOPE.filter((m) => wanted.length === 0 || wanted.includes(m.file));
// Two cores are typical of CI and of a laptop running other work: one test runner by default.
const concurrency = Number(process.env.MUTATION_CONCURRENCY ?? 1);

mkdirSync('test/mutation/state', { recursive: true });
/**
 * Whether the module and its test files are byte for byte what its state file recorded: then an
 * incremental run would reuse every result, and skipping it saves Stryker's start and first test run.
 */
function unchangedSinceState(module: (typeof MUTATION_SCOPE)[number]): boolean {
  const state = stateFileOf(module.file);
  if (!existsSync(state)) return false;
  const report = JSON.parse(readFileSync(state, 'utf8')) as { files: Record<string, { source: string }>; testFiles?: Record<string, { source?: string }> };
  const tests = module.tests.filter((t) => existsSync(t));
  const recorded = report.testFiles ?? {};
  return (
    report.files[module.file]?.source === readFileSync(module.file, 'utf8') &&
    Object.keys(recorded).length === tests.length &&
    tests.every((t) => recorded[t]?.source === readFileSync(t, 'utf8'))
  );
}

const below: string[] = [];
const failed: string[] = [];
for (const module of modules) {
  const started = Date.now();
  if (incremental && unchangedSinceState(module)) {
    console.error(`${module.file}: unchanged since its last run, results kept`);
    continue;
  }
  console.error(`\n=== ${module.file} (${incremental ? 'incremental' : 'full'}) ===`);
  const stryker = new Stryker({
    mutate: [module.file],
    testRunner: 'vitest',
    plugins: ['@stryker-mutator/vitest-runner'],
    vitest: { configFile: 'vitest.mutation.config.ts', related: false },
    testFiles: module.tests.filter((t) => existsSync(t)),
    coverageAnalysis: 'perTest',
    // A module-level mutant (a constant, a regex) would need the module loaded afresh, but the vitest
    // runner keeps it from the first run, so such a mutant is never active and would pass as a survivor.
    ignoreStatic: true,
    concurrency,
    // Socket and storage tests wait on real I/O: a mutant that makes one wait forever is a timeout (killed).
    timeoutMS: 6_000,
    incremental: true,
    force: !incremental,
    incrementalFile: stateFileOf(module.file),
    reporters: ['progress-append-only'],
    tempDirName: '.stryker-tmp',
    cleanTempDir: true,
  });
  let results;
  try {
    results = await stryker.runMutationTest();
  } catch (error) {
    // Most often a test failing (or timing out) before any mutant: the module's tests must pass first.
    console.error(`${module.file}: not measured: ${error instanceof Error ? error.message : String(error)}`);
    failed.push(module.file);
    continue;
  }
  const score = scoreOf(results.map((r) => r.status));
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  console.error(`${module.file}: ${score === null ? 'no mutants' : `${score.toFixed(1)}%`} in ${minutes} min`);
}

// The floor is checked on the report, so a module skipped as unchanged counts with its kept score.
const scores = writeReport();
for (const { file } of modules) {
  const score = scores.get(file);
  if (score !== undefined && score !== null && score < MUTATION_FLOOR) below.push(`${file} (${score.toFixed(1)}%)`);
}
console.error('\nwrote test/mutation/latest.md');
if (below.length > 0) console.error(`below the ${MUTATION_FLOOR}% floor: ${below.join(', ')}`);
if (failed.length > 0) console.error(`not measured: ${failed.join(', ')}`);
if (below.length > 0 || failed.length > 0) process.exit(1);
