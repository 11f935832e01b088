/**
 * `npm run test:mutation [file…] [--incremental]`: Stryker on every module in test/mutation/scope.ts
 * (or the named ones), one module at a time against its own test files, then rewrites
 * test/mutation/latest.md from every module's last result. See docs/testing.md.
 *
 * Each module's results are kept in test/mutation/state/<module>.json (Stryker's incremental file,
 * committed): `--incremental` re-tests only the mutants whose code or tests changed since.
 */
import { existsSync, mkdirSync } from 'node:fs';
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
const below: string[] = [];
for (const module of modules) {
  const started = Date.now();
  console.error(`\n=== ${module.file} (${incremental ? 'incremental' : 'full'}) ===`);
  const stryker = new Stryker({
    mutate: [module.file],
    testRunner: 'vitest',
    plugins: ['@stryker-mutator/vitest-runner'],
    vitest: { configFile: 'vitest.config.ts', related: false },
    testFiles: module.tests.filter((t) => existsSync(t)),
    coverageAnalysis: 'perTest',
    concurrency,
    // Socket and storage tests wait on real I/O: a mutant that makes one wait forever is a timeout (killed).
    timeoutMS: 10_000,
    incremental: true,
    force: !incremental,
    incrementalFile: stateFileOf(module.file),
    reporters: ['progress-append-only'],
    tempDirName: '.stryker-tmp',
    cleanTempDir: true,
  });
  const results = await stryker.runMutationTest();
  const score = scoreOf(results.map((r) => r.status));
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  console.error(`${module.file}: ${score === null ? 'no mutants' : `${score.toFixed(1)}%`} in ${minutes} min`);
  if (score !== null && score < MUTATION_FLOOR) below.push(`${module.file} (${score.toFixed(1)}%)`);
}

writeReport();
console.error('\nwrote test/mutation/latest.md');
if (below.length > 0) {
  console.error(`below the ${MUTATION_FLOOR}% floor: ${below.join(', ')}`);
  process.exit(1);
}
