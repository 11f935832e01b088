import { describe, expect, it } from 'vitest';
import { memoryEngine } from '../support/engine.js';

describe('engine.searchMessages', () => {
  it('counts at most limits.maxSearchCount matches ("1,000+"), and later pages are still served', async () => {
    const engine = await memoryEngine({ limits: { maxSearchCount: 3 } });
    const session = await engine.createSession({ createdBy: 'alice' });
    for (let i = 1; i <= 5; i++) await engine.createMessage({ sessionId: session.id, userId: 'alice', content: `release note ${i}` });
    const first = await engine.searchMessages(session.id, 'alice', 'release', { limit: 2 });
    expect(first).toMatchObject({ total: 3, totalExact: false });
    expect(first.messages.map((m) => m.content)).toEqual(['release note 5', 'release note 4']);
    const last = await engine.searchMessages(session.id, 'alice', 'release', { limit: 2, offset: 4 });
    expect(last.messages.map((m) => m.content)).toEqual(['release note 1']);
    expect(await engine.searchMessages(session.id, 'alice', 'note 2')).toMatchObject({ total: 1, totalExact: true });
  });

  it('the default counts up to 1,000 exactly', async () => {
    const engine = await memoryEngine();
    const session = await engine.createSession({ createdBy: 'alice' });
    const send = (n: number) => Promise.all(Array.from({ length: n }, () => engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hello' })));
    await send(1000);
    expect(await engine.searchMessages(session.id, 'alice', 'hello')).toMatchObject({ total: 1000, totalExact: true });
    await send(1);
    expect(await engine.searchMessages(session.id, 'alice', 'hello')).toMatchObject({ total: 1000, totalExact: false });
  });
});
