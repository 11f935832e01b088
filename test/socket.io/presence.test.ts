import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, sleep, startChat } from './harness.js';

afterEach(closeAll);

describe('socket.io binding: who hears about presence', () => {
  it('someone in no session goes online and offline without anyone hearing of it', async () => {
    const f = await startChat();
    const { id: sessionId } = await f.engine.createSession({ id: 'lobby', createdBy: 'carol', memberIds: ['alice'] });
    const carol = await f.connect('carol');
    await carol.call('session:join', { sessionId });
    const dave = await f.connect('dave');
    await dave.close();
    const alice = await f.connect('alice'); // a member: carol hears of her, and of her only
    await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'alice');
    await alice.close();
    await carol.received.waitFor('presence:update', 2, (p) => p.userId === 'alice');
    await sleep(50);
    expect(carol.received.of('presence:update').map((p) => p.userId)).toEqual(['alice', 'alice']);
  });

  it('a tab that is not in the session does not stop the first tab joining it from announcing user:joined', async () => {
    const f = await startChat();
    const { id: sessionId } = await f.engine.createSession({ id: 'lobby', createdBy: 'carol', memberIds: ['alice'] });
    const carol = await f.connect('carol');
    await carol.call('session:join', { sessionId });
    await f.connect('alice'); // stays out of the session
    const joining = await f.connect('alice');
    expect((await joining.call('session:join', { sessionId })).ok).toBe(true);
    expect(await carol.received.waitFor('user:joined', 1, (e) => e.userId === 'alice')).toHaveLength(1);
  });

  it('asking the binding about nobody answers nobody', async () => {
    const f = await startChat();
    await f.connect('alice');
    expect(await f.binding.getPresence([])).toEqual(new Map());
  });
});
