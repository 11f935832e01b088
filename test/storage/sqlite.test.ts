import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isChatError } from 'parley-chat';
import { SqliteStorage } from 'parley-chat/sqlite';
import { startCheckpointer } from '../../adapters/storage/sqlite/checkpointer.js';
import { describeStorageAdapter } from 'parley-chat/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { caught, draft, newSession } from '../support/storage-fixtures.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-sqlite-'));
  dirs.push(dir);
  return dir;
}

let conformanceDir = '';
describeStorageAdapter({
  name: 'sqlite',
  create: () => new SqliteStorage({ filename: join((conformanceDir = mkdtempSync(join(tmpdir(), 'parley-sqlite-'))), 'chat.db') }),
  destroy: () => rmSync(conformanceDir, { recursive: true, force: true }),
});


describe('SqliteStorage', () => {
  it('keeps its data in a real file in the temp dir (WAL mode), which survives closing and reopening', async () => {
    const file = join(tempDir(), 'persist.db');
    const first = new SqliteStorage({ filename: file });
    expect(existsSync(file)).toBe(false); // constructing touches nothing
    await first.init();
    const session = await newSession(first);
    const [created] = await first.insertMessages([draft(session.id, { content: 'written to disk' })]);
    await first.close();
    expect(statSync(file).size).toBeGreaterThan(0);

    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('select content from chat_messages').pluck().all()).toEqual(['written to disk']);
    raw.close();

    const second = new SqliteStorage({ filename: file });
    await second.init();
    expect(await second.getMessage(created!.message.id)).toEqual(created!.message);
    expect((await second.searchMessages(session.id, ['disk'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(1);
    await second.close();
  });

  it('migrations are idempotent, and init() from two instances on the same file at once both succeed (migrated once)', async () => {
    const file = join(tempDir(), 'race.db');
    const instances = Array.from({ length: 4 }, () => new SqliteStorage({ filename: file }));
    await Promise.all(instances.map((s) => s.init()));
    await Promise.all(instances.map((s) => s.init()));
    const raw = new Database(file, { readonly: true });
    expect(raw.prepare('select name from chat_migrations').pluck().all()).toEqual(['0001_initial', '0002_streams', '0003_search_upgrade', '0004_search_index_tuning', '0005_search_merge_schedule', '0006_search_vector_trigger', '0007_users', '0008_message_parts']);
    raw.close();
    // Every instance writes to the same session concurrently: one gapless numbering.
    const session = await newSession(instances[0]!);
    const results = await Promise.all(
      instances.flatMap((s) => Array.from({ length: 10 }, () => s.insertMessages([draft(session.id)]))),
    );
    expect(results.map((r) => r[0]!.message.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    for (const s of instances) await s.close();
  });

  it('migration 0003 rebuilds an existing search index (without per-row sizes): messages indexed before it are still found', async () => {
    const file = join(tempDir(), 'upgrade.db');
    // A database as 0002 left it: the FTS table in its first form, messages indexed into it.
    const old = new SqliteStorage({ filename: file });
    await old.init();
    const raw = new Database(file);
    raw.exec(`drop table chat_messages_fts;
      create virtual table chat_messages_fts using fts5(content, content='chat_messages', content_rowid='ord', tokenize="unicode61 remove_diacritics 0");
      drop table chat_users;
      delete from chat_migrations where name in ('0003_search_upgrade', '0004_search_index_tuning', '0005_search_merge_schedule', '0006_search_vector_trigger', '0007_users');`);
    expect(raw.prepare("select count(*) from sqlite_master where name = 'chat_messages_fts_docsize'").pluck().get()).toBe(1);
    const session = await newSession(old);
    await old.insertMessages([draft(session.id, { content: 'written before the upgrade' }), draft(session.id, { content: 'another before' })]);
    await old.close();
    raw.exec(`alter table chat_messages drop column parts; delete from chat_migrations where name = '0008_message_parts';`);

    const upgraded = new SqliteStorage({ filename: file });
    await upgraded.init();
    expect(raw.prepare('select name from chat_migrations').pluck().all()).toEqual(['0001_initial', '0002_streams', '0003_search_upgrade', '0004_search_index_tuning', '0005_search_merge_schedule', '0006_search_vector_trigger', '0007_users', '0008_message_parts']);
    expect(raw.prepare("select count(*) from sqlite_master where name = 'chat_messages_fts_docsize'").pluck().get()).toBe(0);
    raw.close();
    expect((await upgraded.searchMessages(session.id, ['before'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(2);
    await upgraded.insertMessages([draft(session.id, { content: 'written after, before long' })]);
    expect((await upgraded.searchMessages(session.id, ['before'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(3);
    expect((await upgraded.searchMessages(session.id, ['upgrade'], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((m) => m.content)).toEqual(['written before the upgrade']);
    await upgraded.close();
  });

  it('the search index merges in small steps with every write, not in one large merge inside a commit (and an older file is switched on init)', async () => {
    const file = join(tempDir(), 'merges.db');
    const storage = new SqliteStorage({ filename: file });
    await storage.init();
    const raw = new Database(file);
    const automerge = () => raw.prepare("select v from chat_messages_fts_config where k = 'automerge'").pluck().get();
    const segments = () => raw.prepare('select count(distinct segid) from chat_messages_fts_idx').pluck().get() as number;
    expect(automerge()).toBe(0);
    const session = await newSession(storage);
    // One message per transaction: each adds a segment to the index. FTS5 alone (automerge 4)
    // leaves 12 segments after 600; the merge steps keep it to a handful, and search is exact.
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) ids.push((await storage.insertMessages([draft(session.id, { content: `note ${i} about topic${i % 7}` })]))[0]!.message.id);
    for (const id of ids.slice(0, 30)) await storage.updateMessage(id, { content: 'edited away', at: new Date() }, { bumpSeq: true });
    expect(segments()).toBeLessThanOrEqual(6);
    expect((await storage.searchMessages(session.id, ['topic3'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(86 - 4);
    expect((await storage.searchMessages(session.id, ['edited'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(30);
    expect(() => raw.prepare("insert into chat_messages_fts (chat_messages_fts) values ('integrity-check')").run()).not.toThrow();
    await storage.close();

    // A file migrated before 0005: FTS5's own schedule, until the next init() turns it off.
    raw.exec(`insert into chat_messages_fts (chat_messages_fts, rank) values ('automerge', 4);
      drop table chat_users;
      alter table chat_messages drop column parts;
      delete from chat_migrations where name in ('0005_search_merge_schedule', '0006_search_vector_trigger', '0007_users', '0008_message_parts');`);
    expect(automerge()).toBe(4);
    const reopened = new SqliteStorage({ filename: file });
    await reopened.init();
    expect(automerge()).toBe(0);
    raw.close();
    await reopened.close();
  });

  it('a worker thread checkpoints the WAL, so the writer does not stall on it (the database file takes the pages)', async () => {
    const file = join(tempDir(), 'checkpoint.db');
    const writer = new Database(file);
    writer.pragma('journal_mode = WAL');
    writer.pragma('wal_autocheckpoint = 0'); // only the worker checkpoints here
    writer.exec('create table t (id integer primary key, v text)');
    const checkpointer = startCheckpointer(file, 10);
    expect(checkpointer).not.toBeNull();
    try {
      const sizeBefore = statSync(file).size;
      const insert = writer.prepare('insert into t (v) values (?)');
      writer.transaction(() => {
        for (let i = 0; i < 2000; i++) insert.run('x'.repeat(200));
      })();
      expect(statSync(`${file}-wal`).size).toBeGreaterThan(400_000);
      let size = sizeBefore;
      for (let i = 0; i < 100 && size < 400_000; i++) {
        await new Promise((r) => setTimeout(r, 20));
        size = statSync(file).size;
      }
      expect(size).toBeGreaterThan(400_000); // copied from the log by the worker, not by this thread
    } finally {
      checkpointer!.stop();
      writer.close();
    }
  });

  it('honours tablePrefix: two prefixes live side by side in one file without seeing each other', async () => {
    const file = join(tempDir(), 'prefix.db');
    const a = new SqliteStorage({ filename: file, tablePrefix: 'app1_' });
    const b = new SqliteStorage({ filename: file, tablePrefix: 'app2_' });
    await a.init();
    await b.init();
    await newSession(a, 'shared-id');
    await newSession(b, 'shared-id'); // no CONFLICT: another table
    await a.insertMessages([draft('shared-id', { content: 'only in app1' })]);
    expect((await b.getHistory('shared-id', { limit: 10, offset: 0, parentMessageId: null })).total).toBe(0);
    expect((await b.searchMessages('shared-id', ['app1'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(0);
    expect((await a.searchMessages('shared-id', ['app1'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(1);
    await a.close();
    await b.close();
    const raw = new Database(file, { readonly: true });
    const tables = raw.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name").pluck().all() as string[];
    raw.close();
    expect(tables.filter((t) => !t.startsWith('app1_') && !t.startsWith('app2_'))).toEqual([]);
    expect(tables).toContain('app1_messages');
    expect(tables).toContain('app2_migrations');
    expect(() => new SqliteStorage({ filename: file, tablePrefix: 'bad"; drop' })).toThrow(TypeError);
  });

  it("uses a host's database as is and never closes it", async () => {
    const file = join(tempDir(), 'host.db');
    const database = new Database(file);
    database.exec('create table host_things (id integer primary key)');
    const storage = new SqliteStorage({ database });
    await storage.init();
    const session = await newSession(storage);
    await storage.insertMessages([draft(session.id)]);
    await storage.close();
    expect(database.open).toBe(true);
    expect(database.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(database.prepare('select count(*) from chat_messages').pluck().get()).toBe(1);
    expect(database.prepare('select count(*) from host_things').pluck().get()).toBe(0);
    database.close();
  });

  it('search terms are quoted: FTS5 operators in input never act as syntax, and non-words match nothing', async () => {
    const storage = new SqliteStorage({ filename: join(tempDir(), 'fts.db') });
    await storage.init();
    const session = await newSession(storage);
    await storage.insertMessages([draft(session.id, { content: 'cats OR dogs NEAR the content' }), draft(session.id, { content: 'just cats' })]);
    const search = (terms: string[]) => storage.searchMessages(session.id, terms, { limit: 10, offset: 0, maxCount: 1000 });
    expect((await search(['or'])).messages.map((m) => m.content)).toEqual(['cats OR dogs NEAR the content']);
    expect((await search(['near'])).total).toBe(1);
    expect((await search(['cats'])).total).toBe(2);
    for (const hostile of ['"', 'cats"', 'cat*', 'content:cats', 'cats OR dogs', '(cats)', '^cats', "'; drop table chat_messages; --"]) {
      expect(await search([hostile])).toEqual({ messages: [], total: 0, totalExact: true });
    }
    expect(await search([])).toEqual({ messages: [], total: 0, totalExact: true });
    await storage.close();
  });

  it('waits for another process holding the write lock (busy_timeout), and reports UNAVAILABLE when it never comes free', async () => {
    const file = join(tempDir(), 'busy.db');
    const patient = new SqliteStorage({ filename: file });
    const impatient = new SqliteStorage({ filename: file, busyTimeoutMs: 50 });
    await patient.init();
    const session = await newSession(patient);
    await impatient.init(); // same process: shares the file's lock, no busy wait

    const holder = await holdWriteLock(file, 700);
    try {
      const failure = await caught(impatient.insertMessages([draft(session.id)]));
      expect(isChatError(failure) && failure.code).toBe('UNAVAILABLE');
      const [ok] = await patient.insertMessages([draft(session.id)]); // waits out the 700 ms
      expect(ok!.message.seq).toBe(1);
    } finally {
      await holder.exited;
    }
    expect((await patient.getSession(session.id))!.lastSeq).toBe(1);
    await patient.close();
    await impatient.close();
  });

  it('a closed storage reports UNAVAILABLE', async () => {
    const storage = new SqliteStorage({ filename: join(tempDir(), 'closed.db') });
    await storage.init();
    await storage.close();
    const error = await caught(storage.getSession('x'));
    expect(isChatError(error) && error.code).toBe('UNAVAILABLE');
  });
});

/** Starts a separate Node process holding `BEGIN IMMEDIATE` on the file for `ms`; resolves once it holds the lock. */
async function holdWriteLock(file: string, ms: number): Promise<{ exited: Promise<void> }> {
  const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const script = `
    const Database = require(${JSON.stringify(betterSqlite)});
    const db = new Database(${JSON.stringify(file)});
    db.exec('begin immediate');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('commit'); db.close(); }, ${ms});
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
  return { exited };
}
