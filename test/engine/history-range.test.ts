import type { Message } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { memoryEngine } from '../support/engine.js';

describe('history between two cursors', () => {
  it('after and before together page the messages strictly between them, oldest first', async () => {
    const engine = await memoryEngine();
    const { id: sessionId } = await engine.createSession({ createdBy: 'alice' });
    const sent: Message[] = [];
    for (let i = 1; i <= 6; i++) sent.push(await engine.createMessage({ sessionId, userId: 'alice', content: `m${i}` }));
    const between = (options: { limit?: number; offset?: number }) =>
      engine.getMessageHistory(sessionId, 'alice', { after: sent[0]!.seq, before: sent[5]!.seq, ...options });
    const first = await between({ limit: 3 });
    expect(first.messages.map((m) => m.content)).toEqual(['m2', 'm3', 'm4']);
    expect(first.total).toBe(6);
    expect((await between({ limit: 3, offset: 3 })).messages.map((m) => m.content)).toEqual(['m5']);
    const empty = await engine.getMessageHistory(sessionId, 'alice', { after: sent[3]!.seq, before: sent[2]!.seq });
    expect(empty).toEqual({ messages: [], total: 6 });
    await engine.close();
  });
});
