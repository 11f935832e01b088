import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The package's entry points, read from package.json "exports" — the one list of them. Each entry
 * names its source file under the `parley-source` condition (a condition no runtime or bundler
 * uses unless asked to, so published consumers never see it) and its built files under `import`
 * and `require`. tsup builds one entry per subpath from it, vitest resolves the package's names
 * to the sources with it, and test/build checks tsconfig.json's `paths` (which cannot be computed)
 * against it.
 */
export interface Subpath {
  /** The key in "exports": `.` or `./sqlite`. */
  key: string;
  /** What a user imports: `parley-chat` or `parley-chat/sqlite`. */
  specifier: string;
  /** The source file, relative to the repository root: `adapters/storage/sqlite/index.ts`. */
  source: string;
  /** The tsup entry name, which names the built files: `sqlite` for `dist/sqlite.js`. */
  entry: string;
}

/** The condition of package.json "exports" that names each entry point's source file. */
export const SOURCE_CONDITION = 'parley-source';

const root = fileURLToPath(new URL('.', import.meta.url));

interface ExportEntry {
  [SOURCE_CONDITION]?: string;
  import?: { default?: string };
}

function readPackage(): { name: string; exports: Record<string, string | ExportEntry> } {
  return JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
}

/** Every subpath export that has a source (all but `./package.json`), in package.json's order. */
export function subpaths(): Subpath[] {
  const pkg = readPackage();
  return Object.entries(pkg.exports).flatMap(([key, value]) => {
    if (typeof value === 'string') return []; // a file exported as it is (./package.json)
    const source = value[SOURCE_CONDITION];
    const built = value.import?.default;
    if (!source || !built) throw new Error(`package.json exports["${key}"] needs a "${SOURCE_CONDITION}" source and an import.default file`);
    const entry = /^\.\/dist\/(.+)\.js$/.exec(built)?.[1];
    if (!entry) throw new Error(`package.json exports["${key}"].import.default should be ./dist/<entry>.js, not ${built}`);
    return [{ key, specifier: key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`, source: source.replace(/^\.\//, ''), entry }];
  });
}

/** Absolute path of a repository file. */
export function fromRoot(path: string): string {
  return `${root}${path}`;
}
