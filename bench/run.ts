/**
 * `npm run bench [name…]`: runs every scenario in bench/ (or the named ones) and prints one table.
 * Scenarios are files named `<name>.bench.ts` that default-export `() => Promise<BenchRow[]>`.
 * Results are also written to bench/results/latest.md.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { printTable, type BenchRow } from './lib.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

const rows: BenchRow[] = [];
for (const file of files) {
  console.error(`running ${file} …`);
  const mod = (await import(pathToFileURL(dir + file).href)) as { default: () => Promise<BenchRow[]> };
  const result = await mod.default();
  rows.push(...result);
  console.error(printTable(result));
}
const table = printTable(rows);
console.log(table);
mkdirSync(dir + 'results', { recursive: true });
writeFileSync(
  dir + 'results/latest.md',
  `# npm run bench — ${new Date().toISOString()}\n\nnode ${process.version}, ${(await import('node:os')).cpus().length} cores\n\n${table}\n`,
);
process.exit(0);
