import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRoot, subpaths } from '../../subpaths.js';

/**
 * The public API report (docs/api/<entry>.api.md, written by `npm run docs`) covers every entry
 * point and nothing else, and CI compares it with the built types (`npm run docs:check`), so the
 * public API changes only with a reviewed change to the report.
 */
describe('the public API report', () => {
  it('has one report per entry point of package.json "exports", and none for anything else', () => {
    const reports = readdirSync(fromRoot('docs/api')).filter((f) => f.endsWith('.api.md'));
    expect(reports.sort()).toEqual(subpaths().map(({ entry }) => `${entry}.api.md`).sort());
  });

  it('each report lists the exports of its entry point', () => {
    for (const { entry, specifier } of subpaths()) {
      const report = readFileSync(fromRoot(`docs/api/${entry}.api.md`), 'utf8');
      expect(report, specifier).toMatch(/^export (declare )?(abstract )?(class|function|interface|type|const|namespace|enum) /m);
    }
  });

  it('is checked in CI after the build, before the tests', () => {
    const steps = readFileSync(fromRoot('.ci/run'), 'utf8')
      .split('\n')
      .filter((line) => /^(npm|npx) /.test(line));
    const build = steps.indexOf('npm run build');
    const check = steps.indexOf('npm run docs:check');
    expect(build).toBeGreaterThanOrEqual(0);
    expect(check).toBeGreaterThan(build);
    expect(check).toBeLessThan(steps.indexOf('npm test'));
    const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['docs:check']).toContain('scripts/api-docs.ts --check');
  });
});
