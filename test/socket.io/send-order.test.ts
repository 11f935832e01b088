import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage, type Message, type StorageAdapter } from 'parley-chat';
import { SqliteStorage } from 'parley-chat/sqlite';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeAll, startChat } from './harness.js';

/** What one socket emits is stored, acked and delivered in the order it was emitted. */
const dir = mkdtempSync(join(tmpdir(), 'parley-socket-order-'));
afterEach(closeAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const storages: { name: string; create: () => StorageAdapter }[] = [
  { name: 'memory', create: () => new MemoryStorage() },
  { name: 'sqlite', create: () => new SqliteStorage({ filename: join(dir, 'chat.db') }) },
];

for (const { name, create } of storages) {
  describe(`message:send order over a real socket on ${name}`, () => {
    it('ten sends emitted back to back, replies among them, are stored and acked in emit order', async () => {
      const latencies = [6, 1, 4, 0, 9, 2, 7, 3, 8, 5];
      const storage = create();
      const f = await startChat({
        storage,
        engineOptions: {
          moderation: {
            // A check whose latency varies per message, as a remote moderation service's does.
            beforeMessage: async ({ content }) => {
              const n = /^send (\d+)$/.exec(content)?.[1];
              if (n !== undefined) await new Promise((r) => setTimeout(r, latencies[Number(n)]! * 2));
            },
          },
        },
      });
      const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
      const [alice, bob] = [await f.connect('alice'), await f.connect('bob')];
      for (const tab of [alice, bob]) expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
      const root = (await alice.call('message:send', { sessionId, content: 'root' })).data as Message;

      const acked: number[] = [];
      const acks = latencies.map(
        (_, i) =>
          new Promise<Message>((resolve, reject) =>
            alice.socket.emit(
              'message:send',
              { sessionId, content: `send ${i}`, clientMessageId: `c-${i}`, ...(i % 3 !== 0 && { parentMessageId: root.id }) },
              (response) => {
                acked.push(i);
                if (response.ok) resolve(response.data);
                else reject(new Error(response.error.message));
              },
            ),
          ),
      );
      const messages = await Promise.all(acks);
      const emitted = latencies.map((_, i) => `send ${i}`);
      expect(acked).toEqual(latencies.map((_, i) => i));
      expect(messages.map((m) => m.content)).toEqual(emitted);
      for (let i = 1; i < messages.length; i++) expect(messages[i]!.seq).toBeGreaterThan(messages[i - 1]!.seq);
      expect((await storage.getChangesSince(sessionId, root.seq, 100)).map((m) => m.content)).toEqual(emitted);
      const delivered = await bob.received.waitFor('message:new', 11);
      expect(delivered.slice(1).map((m) => m.content)).toEqual(emitted);
    });
  });
}
