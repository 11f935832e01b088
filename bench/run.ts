/**
 * `npm run bench [name…]`: runs every scenario in bench/ (or the named ones) and prints one table.
 * Scenarios are files named `<name>.bench.ts` that default-export `() => Promise<BenchRow[]>`.
 * Results are also written to bench/results/<scenario>.md and gathered in bench/results/latest.md.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { printTable, type BenchRow } from './lib.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

// Each scenario's table goes to bench/results/<scenario>.md; latest.md is rebuilt from all of them,
// so running one scenario never erases the others' figures.
const results = dir + 'results/';
mkdirSync(results, { recursive: true });
const machine = `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'})`;
const rows: BenchRow[] = [];
for (const file of files) {
  console.error(`running ${file} …`);
  const mod = (await import(pathToFileURL(dir + file).href)) as { default: () => Promise<BenchRow[]> };
  const result = await mod.default();
  rows.push(...result);
  const table = printTable(result);
  console.error(table);
  const name = file.replace(/\.bench\.ts$/, '');
  writeFileSync(`${results}${name}.md`, `## ${name}\n\n${new Date().toISOString()} — ${machine}\n\n${table}\n`);
}
console.log(printTable(rows));
const sections = readdirSync(results)
  .filter((f) => f.endsWith('.md') && f !== 'latest.md')
  .sort()
  .map((f) => readFileSync(results + f, 'utf8').trim());
writeFileSync(`${results}latest.md`, `# npm run bench — latest figures per scenario\n\n${sections.join('\n\n')}\n`);
process.exit(0);
