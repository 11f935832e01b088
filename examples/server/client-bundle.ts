/**
 * `parley-chat/client` for the browser page, as one ES module with socket.io-client inside, bundled
 * by esbuild when the app starts: `npm start` works on a fresh clone without `npm run build`. In
 * this repository `parley-chat/client` resolves to the TypeScript sources (tsconfig paths); in an
 * app that installed the package, the same import resolves to the built package.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

let bundle: Promise<string> | undefined;

/** The bundle's text; built once per process, on the first call. */
export function clientBundle(): Promise<string> {
  bundle ??= build({
    stdin: { contents: "export * from 'parley-chat/client';", resolveDir: dirname(fileURLToPath(import.meta.url)), loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  }).then((result) => result.outputFiles[0]!.text);
  // A failed build is tried again on the next request rather than remembered.
  bundle.catch(() => (bundle = undefined));
  return bundle;
}
