import { defineConfig } from 'tsup';
import { subpaths } from './subpaths.js';

// One entry per subpath export (package.json "exports"); ESM + CJS + .d.ts for each.
export default defineConfig({
  entry: Object.fromEntries(subpaths().map(({ entry, source }) => [entry, source])),
  format: ['esm', 'cjs'],
  // No source maps (nor declaration maps): they would point at sources the package does not ship, and
  // made up over half of the tarball. Stack traces still name the built files and functions.
  dts: true,
  sourcemap: false,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  external: ['pg', 'better-sqlite3', 'vitest', 'socket.io', 'socket.io-client', 'express', 'react'],
});
