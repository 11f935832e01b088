import { defineConfig } from 'vitest/config';
import { fromRoot, subpaths } from './subpaths.js';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Tests import the package the way a user does: through its subpath names (package.json "exports"),
// resolved to the sources.
export default defineConfig({
  resolve: {
    alias: subpaths().map(({ specifier, source }) => ({ find: new RegExp(`^${escape(specifier)}$`), replacement: fromRoot(source) })),
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Starts a throw-away Postgres when there is none, and ends the run with one line naming what was skipped.
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
