/**
 * Bulk-loads a realistic chat history straight into PostgresStorage's own tables (after
 * `engine.init()` created them), keeping every invariant the adapter relies on:
 *
 * - messages arrive in time order, interleaved across sessions (a shuffled deck), so a session's
 *   rows are spread over the heap as in production;
 * - each session's changes take its gapless counter: a message gets `seq = change_seq = n`; each
 *   reaction (10% of messages get 1–3) and each soft delete (0.5%) takes the next number right
 *   after it and becomes the message's `change_seq`; `chat_sessions.last_seq` is the last number;
 * - 2% of messages are replies to one of the 20 latest top-level messages of their session;
 *   `reply_count` of each parent and `message_count` (top-level messages) of each session match;
 * - 3% of messages carry 1–2 attachments (stored with the message: no change of their own);
 * - soft-deleted messages have `content = ''`, `is_deleted`, `deleted_at` (their generated
 *   search vector is empty, as the adapter's migration defines it);
 * - `search_vector` is the adapter's generated column: Postgres computes it on insert.
 *
 * Speed: rows are generated in JS (seeded, so every run loads the same data) and sent as arrays to
 * `INSERT … SELECT … FROM unnest(…)` on two connections at once (two cores), with
 * `session_replication_role = replica` (no FK triggers: the rows are consistent by construction)
 * and `synchronous_commit = off`. The secondary indexes of chat_messages (history, seq, change,
 * client id, GIN) are dropped first and rebuilt afterwards from their own definitions
 * (`pg_get_indexdef`), which also re-checks the unique ones; then VACUUM ANALYZE.
 */
import pg from 'pg';
import { newId } from '../../src/ids.js';
import { log, PG_URL } from './pg.js';
import { chatMessage, rng, vocabulary } from './text.js';

export interface LoadPlan {
  total: number;
  /** Session ids; index 0 is the big session. */
  sessionIds: string[];
  /** Members of each session (index 0 = owner). */
  members: string[][];
  messageCount: Int32Array;
  lastSeq: Int32Array;
  reactions: number;
  attachments: number;
  deleted: number;
  replies: number;
}

const BATCH = 10_000;
const REPLY_SHARE = 0.02;
const REACTION_SHARE = 0.1;
const DELETE_SHARE = 0.005;
const ATTACHMENT_SHARE = 0.03;
const EMOJI = ['👍', '❤️', '😂', '🎉', '👀', '🙏', '🔥', '✅'];
const BASE_MS = Date.UTC(2026, 0, 1);

/** A UUID-shaped id, time-ordered by message index like the engine's UUIDv7 ids (the PK appends at its right edge). */
export function messageId(i: number): string {
  const t = (BASE_MS + i).toString(16).padStart(12, '0');
  const r = (Math.imul(i, 2654435761) >>> 0).toString(16).padStart(8, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(0, 3)}-8${r.slice(3, 6)}-${r.slice(6, 8)}${i.toString(16).padStart(10, '0')}`;
}

export async function loadHistory(schema: string, total: number, bigShare = 0.2): Promise<LoadPlan> {
  const started = performance.now();
  const random = rng(0xc4a7);
  const vocab = vocabulary();

  // ---- sessions and members
  const big = Math.round(total * bigShare);
  const sizes = [big];
  for (let left = total - big; left > 0; ) {
    const n = Math.min(left, 20 + Math.floor(random() * 161));
    sizes.push(n);
    left -= n;
  }
  const sessionCount = sizes.length;
  const sessionIds = sizes.map((_, s) => (s === 0 ? 'big' : `s${String(s).padStart(6, '0')}`));
  const members = sizes.map((_, s) =>
    s === 0 ? Array.from({ length: 50 }, (_, m) => `u${m}`) : Array.from({ length: 2 + Math.floor(random() * 5) }, (_, m) => `m${s}-${m}`),
  );

  // ---- the timeline: which session each message goes to, in time order
  const deck = new Int32Array(total);
  for (let s = 0, k = 0; s < sessionCount; s++) for (let j = 0; j < sizes[s]!; j++) deck[k++] = s;
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = deck[i]!;
    deck[i] = deck[j]!;
    deck[j] = t;
  }

  // ---- structure (everything but the text), in time order
  const counter = new Int32Array(sessionCount);
  const messageCount = new Int32Array(sessionCount);
  const seq = new Int32Array(total);
  const changeSeq = new Int32Array(total);
  const parent = new Int32Array(total).fill(-1);
  const replyCount = new Int32Array(total);
  const reactionCount = new Uint8Array(total);
  const attachmentCount = new Uint8Array(total);
  const deleted = new Uint8Array(total);
  const author = new Uint8Array(total);
  const recentTopLevel: number[][] = sizes.map(() => []);
  let reactions = 0;
  let attachments = 0;
  let deletedCount = 0;
  let replies = 0;
  for (let i = 0; i < total; i++) {
    const s = deck[i]!;
    const recent = recentTopLevel[s]!;
    if (recent.length > 0 && random() < REPLY_SHARE) {
      const p = recent[Math.floor(random() * recent.length)]!;
      parent[i] = p;
      replyCount[p]!++;
      replies++;
    } else {
      messageCount[s]!++;
      recent.push(i);
      if (recent.length > 20) recent.shift();
    }
    author[i] = Math.floor(random() * members[s]!.length);
    seq[i] = ++counter[s]!;
    if (random() < REACTION_SHARE) {
      const n = 1 + Math.floor(random() * 3);
      reactionCount[i] = n;
      counter[s]! += n;
      reactions += n;
    }
    if (random() < DELETE_SHARE) {
      deleted[i] = 1;
      counter[s]!++;
      deletedCount++;
    }
    changeSeq[i] = counter[s]!;
    if (random() < ATTACHMENT_SHARE) {
      const n = random() < 0.3 ? 2 : 1;
      attachmentCount[i] = n;
      attachments += n;
    }
  }

  const connect = async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`set session_replication_role = replica; set synchronous_commit = off; set maintenance_work_mem = '1GB'`);
    return client;
  };
  const a = await connect();
  const b = await connect();
  const q = (name: string) => `"${schema}".${name}`;
  try {
    // ---- sessions and members
    const baseSeconds = BASE_MS / 1000;
    await a.query(
      `insert into ${q('chat_sessions')} (id, title, created_by, metadata, last_seq, message_count, created_at)
       select id, 'Session ' || id, created_by, null, last_seq, message_count, to_timestamp($5::float8)
         from unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) as u(id, created_by, last_seq, message_count)`,
      [sessionIds, members.map((m) => m[0]!), Array.from(counter), Array.from(messageCount), baseSeconds - 86_400],
    );
    const memberRows = members.flatMap((list, s) => list.map((user, m) => [sessionIds[s]!, user, m === 0 ? 'owner' : 'member', Math.max(0, counter[s]! - Math.floor(random() * 40))] as const));
    await a.query(
      `insert into ${q('chat_session_members')} (session_id, user_id, role, last_read_seq, last_delivered_seq, last_seen_at, joined_at)
       select sid, uid, role, rs, rs, null, to_timestamp($5::float8)
         from unnest($1::text[], $2::text[], $3::text[], $4::int8[]) as u(sid, uid, role, rs)`,
      [memberRows.map((r) => r[0]), memberRows.map((r) => r[1]), memberRows.map((r) => r[2]), memberRows.map((r) => r[3]), baseSeconds - 86_400],
    );

    // ---- drop the secondary indexes of chat_messages (kept: the primary key the FKs hang on)
    const { rows: indexes } = await a.query<{ name: string; def: string }>(
      `select i.indexname as name, i.indexdef as def from pg_indexes i
        where i.schemaname = $1 and i.tablename = 'chat_messages'
          and not exists (select 1 from pg_constraint c where c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)`,
      [schema],
    );
    for (const index of indexes) await a.query(`drop index "${schema}"."${index.name}"`);

    // ---- messages, reactions, attachments, in batches on two connections
    const insertMessages = `insert into ${q('chat_messages')} (id, session_id, user_id, agent_id, role, content, metadata, tokens,
        parent_message_id, reply_count, seq, change_seq, client_message_id, is_edited, edited_at, is_deleted, deleted_at, created_at, updated_at)
      select id, sid, uid, null, 'user', content, null, null, pid, rc, seq, cseq, null, false, null, del,
             case when del then to_timestamp(ts + 60) end, to_timestamp(ts), to_timestamp(case when del then ts + 60 else ts end)
        from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $9::bool[], $10::float8[])
          as u(id, sid, uid, content, pid, rc, seq, cseq, del, ts)`;
    const insertReactions = `insert into ${q('chat_message_reactions')} (id, message_id, user_id, emoji, created_at)
      select id, mid, uid, emoji, to_timestamp(ts) from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[]) as u(id, mid, uid, emoji, ts)`;
    const insertAttachments = `insert into ${q('chat_message_attachments')} (id, message_id, file_name, file_url, mime_type, file_size, metadata, created_at)
      select id, mid, name, 'https://cdn.example.com/files/' || id || '.png', 'image/png', size, null, to_timestamp(ts)
        from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::float8[]) as u(id, mid, name, size, ts)`;

    const batches = Math.ceil(total / BATCH);
    let nextBatch = 0;
    let done = 0;
    const build = (batch: number) => {
      const from = batch * BATCH;
      const to = Math.min(total, from + BATCH);
      const m = { id: [] as string[], sid: [] as string[], uid: [] as string[], content: [] as string[], pid: [] as (string | null)[], rc: [] as number[], seq: [] as number[], cseq: [] as number[], del: [] as boolean[], ts: [] as number[] };
      const r = { id: [] as string[], mid: [] as string[], uid: [] as string[], emoji: [] as string[], ts: [] as number[] };
      const at = { id: [] as string[], mid: [] as string[], name: [] as string[], size: [] as number[], ts: [] as number[] };
      for (let i = from; i < to; i++) {
        const s = deck[i]!;
        const id = messageId(i);
        const ts = baseSeconds + i;
        const text = chatMessage(vocab, random);
        m.id.push(id);
        m.sid.push(sessionIds[s]!);
        m.uid.push(members[s]![author[i]!]!);
        m.content.push(deleted[i] ? '' : text);
        m.pid.push(parent[i]! >= 0 ? messageId(parent[i]!) : null);
        m.rc.push(replyCount[i]!);
        m.seq.push(seq[i]!);
        m.cseq.push(changeSeq[i]!);
        m.del.push(deleted[i] === 1);
        m.ts.push(ts);
        for (let k = 0; k < reactionCount[i]!; k++) {
          const list = members[s]!;
          r.id.push(newId());
          r.mid.push(id);
          r.uid.push(list[(author[i]! + 1 + k) % list.length]!);
          r.emoji.push(EMOJI[(i + k) % EMOJI.length]!);
          r.ts.push(ts + 30 + k);
        }
        for (let k = 0; k < attachmentCount[i]!; k++) {
          at.id.push(newId());
          at.mid.push(id);
          at.name.push(`photo-${i}-${k}.png`);
          at.size.push(10_000 + Math.floor(random() * 2_000_000));
          at.ts.push(ts);
        }
      }
      return { m, r, at };
    };
    const worker = async (client: pg.Client) => {
      for (;;) {
        const batch = nextBatch++;
        if (batch >= batches) return;
        const { m, r, at } = build(batch);
        await client.query(insertMessages, [m.id, m.sid, m.uid, m.content, m.pid, m.rc, m.seq, m.cseq, m.del, m.ts]);
        if (r.id.length > 0) await client.query(insertReactions, [r.id, r.mid, r.uid, r.emoji, r.ts]);
        if (at.id.length > 0) await client.query(insertAttachments, [at.id, at.mid, at.name, at.size, at.ts]);
        done++;
        if (done % Math.max(1, Math.round(batches / 10)) === 0 || done === batches) {
          log(`load: ${Math.min(total, done * BATCH).toLocaleString('en-US')} / ${total.toLocaleString('en-US')} messages (${((performance.now() - started) / 1000).toFixed(0)} s)`);
        }
      }
    };
    await Promise.all([worker(a), worker(b)]);

    // ---- rebuild the indexes (the GIN one alone on one connection, the btrees on the other)
    const gin = indexes.filter((i) => /using gin/i.test(i.def));
    const btrees = indexes.filter((i) => !/using gin/i.test(i.def));
    const t0 = performance.now();
    await Promise.all([
      (async () => {
        for (const index of gin) await a.query(index.def);
      })(),
      (async () => {
        for (const index of btrees) await b.query(index.def);
      })(),
    ]);
    log(`load: ${indexes.length} indexes rebuilt in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = performance.now();
    await Promise.all([
      a.query(`vacuum (analyze) ${q('chat_messages')}`),
      (async () => {
        for (const t of ['chat_sessions', 'chat_session_members', 'chat_message_reactions', 'chat_message_attachments']) await b.query(`vacuum (analyze) ${q(t)}`);
      })(),
    ]);
    log(`load: vacuum analyze in ${((performance.now() - t1) / 1000).toFixed(1)} s; total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await a.end();
    await b.end();
  }
  return { total, sessionIds, members, messageCount, lastSeq: counter, reactions, attachments, deleted: deletedCount, replies };
}
