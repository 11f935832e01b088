import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ChatEngine } from 'parley-chat';
import { SqliteStorage } from 'parley-chat/sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { expectChatError, NO_RATE_LIMITS } from '../support/engine.js';

/**
 * SQLite's counterpart of Postgres' statement deadline is its busy timeout: a write that waits
 * longer than `busyTimeoutMs` for another process' lock fails with UNAVAILABLE, with the same
 * `retryAfterMs` as every UNAVAILABLE, and nothing written; once the lock is gone, writes work.
 */
const dir = mkdtempSync(join(tmpdir(), 'parley-busy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteStorage when another process holds the write lock', () => {
  it('a send waits at most busyTimeoutMs, then UNAVAILABLE with retryAfterMs; it works once the lock is released', async () => {
    const filename = join(dir, 'busy.db');
    const engine = new ChatEngine({ storage: new SqliteStorage({ filename, busyTimeoutMs: 100 }), rateLimits: NO_RATE_LIMITS, logger: { error() {}, warn() {} } });
    await engine.init();
    try {
      const session = await engine.createSession({ createdBy: 'alice' });
      const other = new Database(filename); // another process' connection to the same file
      try {
        other.exec('begin immediate');
        const error = await expectChatError(engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'blocked' }), 'UNAVAILABLE');
        expect(error.retryAfterMs).toBe(1000);
        expect(error.message).not.toMatch(/SQLITE|locked|busy\.db/);
        other.exec('rollback');
      } finally {
        other.close();
      }
      const sent = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'after' });
      expect(sent.seq).toBe(1);
    } finally {
      await engine.close();
    }
  });
});
