import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stateFileOf } from '../../scripts/mutation-report.js';
import { fromRoot } from '../../subpaths.js';
import { MUTATION_SCOPE } from '../mutation/scope.js';

/**
 * CI runs mutation testing incrementally from the committed results (docs/testing.md), so a change
 * that lets a module in scope fall below the floor fails the build. That only stays minutes long
 * while every module starts from a committed result and runs against test files that exist.
 */
describe('mutation testing in CI', () => {
  it('runs incrementally after the tests', () => {
    const steps = readFileSync(fromRoot('.ci/run'), 'utf8')
      .split('\n')
      .filter((line) => /^(npm|npx) /.test(line));
    const mutation = steps.indexOf('npm run test:mutation -- --incremental');
    expect(mutation).toBeGreaterThan(steps.indexOf('npm test'));
    expect(steps.indexOf('npm test')).toBeGreaterThanOrEqual(0);
    const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['test:mutation']).toBe('tsx scripts/mutation.ts');
  });

  it('starts every module in scope from a committed result (else CI would run it in full)', () => {
    const missing = MUTATION_SCOPE.filter(({ file }) => !existsSync(fromRoot(stateFileOf(file))));
    expect(missing.map((m) => m.file)).toEqual([]);
  });

  it('names only source and test files that exist (a renamed test file would drop out silently)', () => {
    const named = MUTATION_SCOPE.flatMap(({ file, tests }) => [file, ...tests]);
    expect(named.filter((path) => !existsSync(fromRoot(path)))).toEqual([]);
  });
});
