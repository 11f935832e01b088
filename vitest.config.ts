import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests import the package the way a user does: through its subpath names.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^parley-chat\/testing$/, replacement: here('./src/testing/index.ts') },
      { find: /^parley-chat\/sqlite$/, replacement: here('./adapters/storage/sqlite/index.ts') },
      { find: /^parley-chat\/postgres$/, replacement: here('./adapters/storage/postgres/index.ts') },
      { find: /^parley-chat\/socket\.io$/, replacement: here('./adapters/socket.io/index.ts') },
      { find: /^parley-chat\/express$/, replacement: here('./adapters/express/index.ts') },
      { find: /^parley-chat\/openai$/, replacement: here('./adapters/llm/openai/index.ts') },
      { find: /^parley-chat$/, replacement: here('./src/index.ts') },
    ],
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
