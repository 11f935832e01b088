/**
 * What display names cost a history page: a 100-message page by 20 authors on Postgres, read
 * through the engine with every author's name cached, and by an engine that has none cached (its
 * page reads the 20 profiles in one more statement), each beside the same page read from storage
 * without names in the same run. p50/p99 over BENCH_NAME_PAGES (default 200) pages each.
 * Run: `npx tsx bench/run.ts profile-names`.
 */
import pg from 'pg';
import { ChatEngine } from '../src/index.js';
import { PostgresStorage } from '../adapters/storage/postgres/index.js';
import { summarize, type BenchRow } from './lib.js';
import { PG_URL, randomSchema } from './support/pg.js';

const PAGES = Number(process.env.BENCH_NAME_PAGES ?? 200);

export default async function profileNames(): Promise<BenchRow[]> {
  const schema = randomSchema('parley_bench_names');
  const storage = new PostgresStorage({ connectionString: PG_URL, schema });
  const engine = new ChatEngine({ storage });
  try {
    await engine.init();
    const authors = Array.from({ length: 20 }, (_, i) => `author-${i}`);
    const session = await engine.createSession({ createdBy: authors[0]!, memberIds: authors.slice(1) });
    for (const a of authors) await engine.rememberUser({ userId: a, name: `Author ${a}` });
    for (let i = 0; i < 100; i++) await engine.createMessage({ sessionId: session.id, userId: authors[i % 20]!, content: `message ${i}` }, { trusted: true });

    const pages = async (reader: () => ChatEngine) => {
      const samples: number[] = [];
      for (let i = 0; i < PAGES; i++) {
        const e = reader();
        const t = performance.now();
        await e.getMessageHistory(session.id, undefined, { limit: 100 });
        samples.push(performance.now() - t);
      }
      return summarize(samples);
    };
    const raw: number[] = [];
    for (let i = 0; i < PAGES; i++) {
      const t = performance.now();
      await storage.getHistory(session.id, { limit: 100, offset: 0, parentMessageId: null });
      raw.push(performance.now() - t);
    }
    const plain = summarize(raw);
    const warm = await pages(() => engine);
    // An engine per page shares the storage but not the name cache.
    const cold = await pages(() => new ChatEngine({ storage }));
    const row = (scenario: string, metric: string, value: number): BenchRow => {
      const base = metric.endsWith('p50') ? plain.p50 : plain.p99;
      return { scenario, metric, value, unit: 'ms', baseline: { name: `storage.getHistory, no names, ${metric.split(' ').pop()}`, value: base }, ratio: base / value };
    };
    return [
      row('page of 100 by 20 authors, names cached', 'history p50', warm.p50),
      row('page of 100 by 20 authors, names cached', 'history p99', warm.p99),
      row('page of 100 by 20 authors, names not cached', 'history p50', cold.p50),
      row('page of 100 by 20 authors, names not cached', 'history p99', cold.p99),
    ];
  } finally {
    await engine.close();
    const admin = new pg.Pool({ connectionString: PG_URL });
    await admin.query(`drop schema if exists "${schema}" cascade`);
    await admin.end();
  }
}
