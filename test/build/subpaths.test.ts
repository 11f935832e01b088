import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRoot, subpaths } from '../../subpaths.js';

/**
 * package.json "exports" is the one list of entry points: tsup and vitest derive theirs from it
 * (subpaths.ts). tsconfig.json's `paths` cannot be computed, so they are checked against it here.
 */
describe('the subpath list', () => {
  const list = subpaths();

  it('names an existing source file for every subpath export', () => {
    expect(list.length).toBeGreaterThan(0);
    for (const { specifier, source } of list) expect(existsSync(fromRoot(source)), `${specifier}: ${source}`).toBe(true);
  });

  it('builds each subpath into its own files, under distinct names', () => {
    const entries = list.map((s) => s.entry);
    expect(new Set(entries).size).toBe(entries.length);
  });

  it('tsconfig.json maps each package name to its source, and nothing else', () => {
    const tsconfig = JSON.parse(readFileSync(fromRoot('tsconfig.json'), 'utf8')) as { compilerOptions: { paths: Record<string, string[]> } };
    const expected = Object.fromEntries(list.map(({ specifier, source }) => [specifier, [`./${source}`]]));
    expect(tsconfig.compilerOptions.paths).toEqual(expected);
  });
});
