import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from 'parley-chat';
import { SqliteStorage } from 'parley-chat/sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startChat, until, type ChatFixture } from './harness.js';

/** The binding on a real database: durable replay survives the server itself going away. */

const dirs: string[] = [];
afterEach(async () => {
  await closeAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-socket-'));
  dirs.push(dir);
  return join(dir, 'chat.db');
}

describe('socket.io binding on SQLite', () => {
  it('send, edit, delete, react and seen round-trip through the database', async () => {
    const f = await startChat({ storage: new SqliteStorage({ filename: tempDb() }) });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const [alice, bob] = [await f.connect('alice'), await f.connect('bob')];
    for (const tab of [alice, bob]) expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
    const sent = (await alice.call('message:send', { sessionId, content: 'stored for real', clientMessageId: 'c-1' })).data as Message;
    expect(await bob.received.waitFor('message:new')).toEqual([sent]);
    expect(alice.received.of('message:delivered')).toEqual([{ sessionId, clientMessageId: 'c-1', messageId: sent.id, seq: 1 }]);
    await alice.call('message:edit', { messageId: sent.id, content: 'edited for real' });
    await bob.call('message:reaction', { messageId: sent.id, emoji: '👍' });
    await bob.call('message:seen', { sessionId, messageId: sent.id });
    await alice.call('message:delete', { messageId: sent.id });
    await bob.received.waitFor('message:deleted');
    expect(bob.received.events.filter((e) => e.event.startsWith('message:')).map((e) => e.event)).toEqual([
      'message:new',
      'message:edited',
      'message:reaction:update',
      'message:seen:update',
      'message:deleted',
    ]);
  });

  it('a server restart loses nothing: the delivery cursor is in the database', async () => {
    const filename = tempDb();
    let f: ChatFixture = await startChat({ storage: new SqliteStorage({ filename }) });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const bob = await f.connect('bob');
    await bob.call('session:join', { sessionId });
    await f.engine.createMessage({ sessionId, userId: 'alice', content: 'seen before the restart' });
    await bob.received.waitFor('message:new');
    await bob.close();
    await until(async () => (await f.engine.listMembers(sessionId)).find((m) => m.userId === 'bob')!.lastDeliveredSeq === 1, 2000, 'cursor saved');
    await f.engine.createMessage({ sessionId, userId: 'alice', content: 'missed 1' });
    await f.engine.createMessage({ sessionId, userId: 'alice', content: 'missed 2' });
    await f.close();

    f = await startChat({ storage: new SqliteStorage({ filename }) });
    const back = await f.connect('bob');
    expect((await back.call('session:join', { sessionId })).ok).toBe(true);
    expect(back.received.of('message:new').map((m) => m.content)).toEqual(['missed 1', 'missed 2']);
    expect(back.received.of('session:synced')).toEqual([{ sessionId, seq: 3, gap: false }]);
  });
});
