/**
 * Shared helpers for `npm run bench`. Each scenario file in bench/ exports a default async
 * function returning rows; bench/run.ts prints them as one table. A row compares a Parley figure
 * with a baseline measured in the same run, as a ratio, next to the target.
 */
export interface BenchRow {
  scenario: string;
  /** What the figure is, e.g. 'insert msg/s' or 'history p99 ms'. */
  metric: string;
  value: number;
  unit: string;
  /** The raw baseline measured in the same run (raw pg insert, bad-words clean(), …). */
  baseline?: { name: string; value: number };
  /** value / baseline for throughputs, baseline / value for latencies: > 1 means Parley is faster. Set by the scenario. */
  ratio?: number;
  /** The target in words, e.g. '>= 0.9x raw' or '<= 50 µs'. */
  target?: string;
  /** Whether the target is met (undefined when there is no target). */
  pass?: boolean;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function summarize(samplesMs: number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean };
}

/** Runs `fn` `count` times with at most `concurrency` calls in flight; returns elapsed ms. */
/** This process's CPU ms (user + system) per call of `fn`, over `calls` calls in a row after `warmUp` unmeasured ones. */
export async function cpuMsPerCall(fn: () => Promise<unknown>, calls: number, warmUp = 50): Promise<number> {
  for (let i = 0; i < warmUp; i++) await fn();
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / calls;
}

export async function runConcurrently(count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return performance.now() - start;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

export function printTable(rows: readonly BenchRow[]): string {
  const header = ['scenario', 'metric', 'parley', 'baseline', 'ratio', 'target', 'ok'];
  const lines = rows.map((r) => [
    r.scenario,
    r.metric,
    `${fmt(r.value)} ${r.unit}`,
    r.baseline ? `${fmt(r.baseline.value)} ${r.unit} (${r.baseline.name})` : '',
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [row(header), row(widths.map((w) => '-'.repeat(w))), ...lines.map(row)].join('\n');
}
