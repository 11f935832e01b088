/**
 * The one place that decides whether a suite's outside service is there: Postgres, Redis, Chromium.
 *
 * - Under CI=true a missing service is a failure (`requireService` throws): a suite must never pass
 *   by testing nothing.
 * - Outside CI the suite is skipped, and the reason is appended to the run's skip log, so the run
 *   ends with one line naming everything that was skipped and why (see test/global-setup.ts).
 *
 * Postgres is rarely missing outside CI: when PARLEY_PG_URL is unset and nothing answers at the
 * default URL, the global setup starts a throw-away one and sets PARLEY_PG_URL for the workers.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { relative } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

export type Service = 'postgres' | 'redis' | 'chromium';

/** The default Postgres of the tests (and what the global setup probes before starting its own). */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Where the suites find their services; the global setup may have set PARLEY_PG_URL. */
export const serviceUrls = {
  postgres: () => process.env.PARLEY_PG_URL ?? DEFAULT_PG_URL,
  redis: () => process.env.PARLEY_REDIS_URL ?? 'redis://127.0.0.1:6379',
  chromium: () => process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
};

/** How the run's closing line names the suites that need each service. */
export const SUITES_OF: Record<Service, string> = { postgres: 'Postgres suites', redis: 'Redis suites', chromium: 'browser suite' };

/** What a reader of the skip line should do to run the suite next time. */
const HOW_TO_FIX: Record<Service, () => string> = {
  // The global setup sets PARLEY_PG_URL only to a server that answered; set by hand, it may be wrong.
  postgres: () => (process.env.PARLEY_PG_URL ? 'check PARLEY_PG_URL, or unset it to let the tests start a throw-away Postgres' : 'set PARLEY_PG_URL'),
  redis: () => 'start redis-server or set PARLEY_REDIS_URL',
  chromium: () => 'apt-get install chromium, or set CHROMIUM_PATH',
};

/** Why `url` cannot be used, or null when Postgres answers a query there. */
export async function probePostgres(url: string, timeoutMs = 3000): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return describeError(error);
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeRedis(url: string): Promise<string | null> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: unknown; // ioredis rejects with "Connection is closed"; the reason comes as an 'error' event
  client.on('error', (error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return describeError(cause ?? error);
  } finally {
    client.disconnect();
  }
}

/** A connection error's code (ECONNREFUSED, …) where it has one: short enough for one line. */
function describeError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  return error instanceof Error && error.message ? error.message : String(error);
}

/** Why the service is unusable, or null when it is there. Never throws. */
export async function serviceProblem(service: Service): Promise<string | null> {
  const url = serviceUrls[service]();
  if (service === 'chromium') return existsSync(url) ? null : `no Chromium at ${url}`;
  const problem = service === 'postgres' ? await probePostgres(url) : await probeRedis(url);
  if (problem === null) return null;
  const embedded = service === 'postgres' ? process.env.PARLEY_PG_EMBEDDED_ERROR : undefined;
  return `nothing answers at ${url}: ${problem}${embedded ? `, and the throw-away Postgres did not start: ${embedded}` : ''}`;
}

/**
 * null when `service` is there. Otherwise: under CI=true it throws; outside CI it records the skip
 * of `suite` (default: the calling test file) in the run's skip log and returns the reason, for
 * `describe.skipIf`.
 */
export async function requireService(service: Service, suite?: string): Promise<string | null> {
  const problem = await serviceProblem(service);
  if (problem === null) return null;
  suite ??= await currentTestFile();
  if (process.env.CI) throw new Error(`${suite} needs ${service} under CI, but ${problem}`);
  const reason = `${problem}; ${HOW_TO_FIX[service]()}`;
  recordSkip({ service, suite, reason });
  return reason;
}

/** The test file being collected (vitest is imported lazily: the global setup uses this module too). */
async function currentTestFile(): Promise<string> {
  const { expect } = await import('vitest');
  const path = expect.getState().testPath;
  return path ? relative(process.cwd(), path) : 'a test file';
}

export interface SkipRecord {
  service: Service;
  suite: string;
  reason: string;
}

/** Notes a skipped suite for the run's closing line (or warns at once, in a run without the global setup). */
export function recordSkip(skip: SkipRecord): void {
  const log = process.env.PARLEY_SKIP_LOG;
  if (log) appendFileSync(log, `${JSON.stringify(skip)}\n`);
  else console.warn(`skipped: ${skip.suite} (${skip.reason})`);
}

/** The run's closing line: every skipped kind of suite once, with its reason; null when nothing was skipped. */
export function skipSummary(skips: SkipRecord[]): string | null {
  if (skips.length === 0) return null;
  // A fixed order (Postgres, Redis, browser), whichever file happened to be collected first.
  const byService = new Map<Service, SkipRecord[]>((Object.keys(SUITES_OF) as Service[]).map((service) => [service, []]));
  for (const skip of skips) byService.get(skip.service)!.push(skip);
  const parts = [...byService].filter(([, records]) => records.length > 0).map(([service, records]) => {
    const files = new Set(records.map((r) => r.suite)).size;
    return `${SUITES_OF[service]}${files > 1 ? ` in ${files} files` : ''} (${records[0]!.reason})`;
  });
  return `skipped: ${parts.join(', ')}`;
}
