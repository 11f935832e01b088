import { isChatError, type NewMessage } from 'parley-chat';
import { newId } from '../../src/ids.js';
import { PostgresStorage } from 'parley-chat/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from '../support/postgres.js';

/**
 * A storage failure surfaces as UNAVAILABLE and never as a half-written message.
 * The backends serving the adapter are killed with pg_terminate_backend from a separate admin
 * connection while it writes.
 */
const pgUp = await postgresAvailable(); // throws under CI when Postgres is missing
const skip = pgUp ? undefined : `Postgres unreachable at ${PG_URL}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip !== undefined)(`PostgresStorage when its connections die${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const schema = uniqueSchema('parley_t');
  // Our backends carry this name, so the admin connection kills only them.
  const appName = `parley_fault_${newId().slice(-12)}`;
  let storage: PostgresStorage;
  let admin: pg.Pool;

  beforeAll(async () => {
    storage = new PostgresStorage({ connectionString: PG_URL, schema, poolConfig: { max: 8, application_name: appName } });
    await storage.init();
    admin = new pg.Pool({ connectionString: PG_URL, max: 3 });
  });

  afterAll(async () => {
    await storage?.close();
    await admin?.end();
    if (pgUp) await dropSchema(schema);
  });

  const terminateAll = async (): Promise<number> => {
    const { rowCount } = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [appName]);
    return rowCount ?? 0;
  };

  const draft = (sessionId: string, fields: Partial<NewMessage> = {}): NewMessage => ({
    id: newId(),
    sessionId,
    userId: 'alice',
    agentId: null,
    role: 'user',
    content: 'fault tolerant hello',
    metadata: { n: 1 },
    tokens: null,
    parentMessageId: null,
    clientMessageId: `c-${newId()}`,
    attachments: [{ id: newId(), fileName: 'a.txt', fileUrl: 'https://files.test/a.txt', mimeType: 'text/plain', fileSize: 1, metadata: null }],
    at: new Date(),
    ...fields,
  });

  /** Everything a half-written batch could break, checked straight in the tables. */
  const expectConsistent = async (sessionId: string) => {
    const q = (text: string) => admin.query(text, [sessionId]).then((r) => r.rows);
    const [session] = await q(`select last_seq::int, message_count::int from "${schema}".chat_sessions where id = $1`);
    const seqs = (await q(`select seq::int from "${schema}".chat_messages where session_id = $1 order by seq`)).map((r) => r.seq);
    // Only inserts happen in these tests, so the numbers are exactly the messages: 1..lastSeq.
    expect(seqs).toEqual(Array.from({ length: session.last_seq }, (_, i) => i + 1));
    const [{ top }] = await q(`select count(*)::int as top from "${schema}".chat_messages where session_id = $1 and parent_message_id is null`);
    expect(session.message_count).toBe(top);
    const wrongReplyCounts = await q(
      `select p.id from "${schema}".chat_messages p
       where p.session_id = $1 and p.reply_count <> (select count(*) from "${schema}".chat_messages c where c.parent_message_id = p.id)`,
    );
    expect(wrongReplyCounts).toEqual([]);
    // Every message was sent with exactly one attachment: a message without it is half-written.
    const withoutAttachment = await q(
      `select m.id from "${schema}".chat_messages m where m.session_id = $1
       and (select count(*) from "${schema}".chat_message_attachments a where a.message_id = m.id) <> 1`,
    );
    expect(withoutAttachment).toEqual([]);
    return session.last_seq as number;
  };

  it(
    'backends killed during concurrent batched writes: callers get UNAVAILABLE, nothing is half-written, the next call succeeds',
    async () => {
      const sessions = await Promise.all(
        Array.from({ length: 3 }, () =>
          storage.createSession({ id: newId(), title: null, createdBy: 'alice', metadata: null, memberIds: [], at: new Date() }),
        ),
      );
      const roots = new Map<string, string>();
      for (const s of sessions) roots.set(s.id, (await storage.insertMessages([draft(s.id)]))[0]!.message.id);

      const failures: unknown[] = [];
      let written = 0;
      let stop = false;
      const writer = async (w: number) => {
        for (let i = 0; !stop; i++) {
          // Batches of 1-4 over one or two sessions, half of them replies (parent counters move too).
          const batch = Array.from({ length: 1 + ((w + i) % 4) }, (_, k) => {
            const session = sessions[(w + i + k) % 2 === 0 ? 0 : 1 + (w % 2)]!;
            return draft(session.id, k % 2 ? { parentMessageId: roots.get(session.id)! } : {});
          });
          try {
            written += (await storage.insertMessages(batch)).length;
          } catch (error) {
            failures.push(error);
            await sleep(5);
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      let killed = 0;
      for (let round = 0; round < 6; round++) {
        await sleep(120);
        killed += await terminateAll();
      }
      await sleep(100);
      stop = true;
      await Promise.all(writers);

      expect(killed).toBeGreaterThan(0);
      expect(failures.length).toBeGreaterThan(0);
      expect(written).toBeGreaterThan(0);
      for (const failure of failures) {
        expect(isChatError(failure) && failure.code, String(failure)).toBe('UNAVAILABLE');
        expect((failure as Error).cause).toBeDefined();
      }
      for (const s of sessions) await expectConsistent(s.id);

      // The pool has dropped the dead clients by now: the next call simply works.
      const before = (await storage.getSession(sessions[0]!.id))!.lastSeq;
      const [next] = await storage.insertMessages([draft(sessions[0]!.id)]);
      expect(next).toMatchObject({ created: true, message: { seq: before + 1 } });
      await expectConsistent(sessions[0]!.id);
    },
    60_000,
  );

  it(
    'a backend killed mid-transaction (message and attachment inserted, waiting to bump the parent) leaves nothing behind',
    async () => {
      const session = await storage.createSession({ id: newId(), title: null, createdBy: 'alice', metadata: null, memberIds: [], at: new Date() });
      const [root] = await storage.insertMessages([draft(session.id)]);
      const parentId = root!.message.id;

      // Hold the parent's row lock (NO KEY UPDATE: the reply's foreign-key check still passes), so
      // the batch gets as far as its reply-count update and waits there.
      const blocker = await admin.connect();
      let reply: NewMessage;
      try {
        await blocker.query('begin');
        await blocker.query(`select 1 from "${schema}".chat_messages where id = $1 for no key update`, [parentId]);
        reply = draft(session.id, { parentMessageId: parentId });
        const pending = storage.insertMessages([reply]).then(
          () => null,
          (error: unknown) => error,
        );
        let pid: number | undefined;
        for (let i = 0; i < 200 && pid === undefined; i++) {
          const { rows } = await admin.query(
            `select pid from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock' and query like 'update%reply_count%'`,
            [appName],
          );
          pid = rows[0]?.pid;
          if (pid === undefined) await sleep(25);
        }
        expect(pid, 'the insert never reached the reply-count update').toBeDefined();
        await admin.query('select pg_terminate_backend($1)', [pid]);
        const error = await pending;
        expect(isChatError(error) && error.code, String(error)).toBe('UNAVAILABLE');
      } finally {
        await blocker.query('rollback');
        blocker.release();
      }

      expect(await storage.getMessage(reply.id)).toBeNull();
      expect(await storage.getAttachment(reply.attachments[0]!.id)).toBeNull();
      expect(await storage.getSession(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });
      expect((await storage.getMessage(parentId))?.replyCount).toBe(0);
      await expectConsistent(session.id);

      // The engine's retry (same clientMessageId) now stores it, exactly once.
      const [retried] = await storage.insertMessages([reply]);
      expect(retried).toMatchObject({ created: true, message: { id: reply.id, seq: 2 } });
      const [again] = await storage.insertMessages([{ ...reply, id: newId() }]);
      expect(again).toMatchObject({ created: false, message: { id: reply.id } });
      expect((await storage.getMessage(parentId))?.replyCount).toBe(1);
      await expectConsistent(session.id);
    },
    30_000,
  );
});
