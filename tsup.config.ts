import { defineConfig } from 'tsup';

// One tsup entry per subpath export (package.json "exports"); ESM + CJS + .d.ts for each.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    sqlite: 'adapters/storage/sqlite/index.ts',
    postgres: 'adapters/storage/postgres/index.ts',
    'socket.io': 'adapters/socket.io/index.ts',
    express: 'adapters/express/index.ts',
    openai: 'adapters/llm/openai/index.ts',
  },
  format: ['esm', 'cjs'],
  // No source maps (nor declaration maps): they would point at sources the package does not ship, and
  // made up over half of the tarball. Stack traces still name the built files and functions.
  dts: true,
  sourcemap: false,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  external: ['pg', 'better-sqlite3', 'vitest', 'socket.io', 'express'],
});
