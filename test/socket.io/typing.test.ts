import { ChatEngine, MemoryStorage } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { TypingTracker } from '../../adapters/socket.io/typing.js';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { closeAll, sleep, startChat, until, type ChatFixture, type Tab } from './harness.js';

afterEach(closeAll);

/** Carol watches session `lobby`; alice and bob are members, joined and ready to type. */
async function lobby(f: ChatFixture, sessionId = 'lobby') {
  await f.engine.createSession({ id: sessionId, createdBy: 'carol', memberIds: ['alice', 'bob'] });
  const carol = await f.connect('carol');
  await carol.call('session:join', { sessionId });
  const join = async (userId: string) => {
    const tab = await f.connect(userId);
    await tab.call('session:join', { sessionId });
    return tab;
  };
  return { sessionId, carol, alice: await join('alice'), bob: await join('bob') };
}

const stopsOf = (watcher: Tab, userId: string) => watcher.received.of('typing:stop').filter((p) => p.userId === userId);

describe('socket.io binding: typing indicators of several people', () => {
  it('two people type at once: one stopping leaves the other’s indicator on until it expires', async () => {
    const f = await startChat({ attach: { typingTimeoutMs: 300 } });
    const { sessionId, carol, alice, bob } = await lobby(f);
    await alice.call('typing:start', { sessionId });
    await bob.call('typing:start', { sessionId });
    await carol.received.waitFor('typing:start', 2);
    await alice.call('typing:stop', { sessionId });
    expect(await carol.received.waitFor('typing:stop')).toEqual([{ sessionId, userId: 'alice' }]);
    await sleep(100);
    expect(stopsOf(carol, 'bob')).toEqual([]);
    expect(await carol.received.waitFor('typing:stop', 1, (p) => p.userId === 'bob', 2000)).toEqual([{ sessionId, userId: 'bob' }]);
    expect(stopsOf(carol, 'alice')).toHaveLength(1);
  });

  it('a disconnect ends only the indicator that socket started, not another tab’s or another user’s', async () => {
    const f = await startChat();
    const { sessionId, carol, alice, bob } = await lobby(f);
    const aliceIdleTab = await f.connect('alice');
    await aliceIdleTab.call('session:join', { sessionId });
    await alice.call('typing:start', { sessionId });
    await bob.call('typing:start', { sessionId });
    await carol.received.waitFor('typing:start', 2);
    await aliceIdleTab.close();
    await sleep(100);
    expect(carol.received.of('typing:stop')).toEqual([]);
    await alice.close();
    expect(await carol.received.waitFor('typing:stop')).toEqual([{ sessionId, userId: 'alice' }]);
    await sleep(100);
    expect(stopsOf(carol, 'bob')).toEqual([]);
  });

  it('leaving a session ends the indicator there, not in the other sessions the socket types in', async () => {
    const f = await startChat();
    const { sessionId, carol, alice } = await lobby(f);
    await f.engine.createSession({ id: 'kitchen', createdBy: 'carol', memberIds: ['alice'] });
    await carol.call('session:join', { sessionId: 'kitchen' });
    await alice.call('session:join', { sessionId: 'kitchen' });
    await alice.call('typing:start', { sessionId });
    await alice.call('typing:start', { sessionId: 'kitchen' });
    await carol.received.waitFor('typing:start', 2);
    await alice.call('session:leave', { sessionId });
    expect(await carol.received.waitFor('typing:stop')).toEqual([{ sessionId, userId: 'alice' }]);
    await sleep(100);
    expect(carol.received.of('typing:stop')).toHaveLength(1);
  });

  it('sending a message ends the sender’s indicator once; an indicator already ended is not ended again', async () => {
    const f = await startChat();
    const { sessionId, carol, alice, bob } = await lobby(f);
    await alice.call('typing:start', { sessionId });
    await bob.call('typing:start', { sessionId });
    await carol.received.waitFor('typing:start', 2);
    await alice.call('message:send', { sessionId, content: 'hi' });
    expect(await carol.received.waitFor('typing:stop')).toEqual([{ sessionId, userId: 'alice' }]);
    // Not typing any more: another message, a leave or a disconnect says nothing about typing.
    await alice.call('message:send', { sessionId, content: 'again' });
    await alice.call('session:leave', { sessionId });
    await alice.close();
    await carol.received.waitFor('message:new', 2);
    await sleep(100);
    expect(stopsOf(carol, 'alice')).toHaveLength(1);
    expect(stopsOf(carol, 'bob')).toEqual([]);
  });
});

describe('typing again', () => {
  it('typing again after a stop gets a whole new timeout: the first one’s timer does not end it', async () => {
    const f = await startChat({ attach: { typingTimeoutMs: 300 } });
    const { sessionId, carol, alice } = await lobby(f);
    await alice.call('typing:start', { sessionId });
    await alice.call('typing:stop', { sessionId });
    await sleep(150);
    await alice.call('typing:start', { sessionId });
    await sleep(250); // past the first start's timeout, well within the second's
    expect(stopsOf(carol, 'alice')).toHaveLength(1);
    await carol.received.waitFor('typing:stop', 2, () => true, 2000);
  });
});

/** A tracker on a real engine, and every `typing.updated` the engine published. */
async function tracked(timeoutMs: number) {
  const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: NO_RATE_LIMITS });
  await engine.init();
  const updates: boolean[] = [];
  engine.on('typing.updated', ({ typing }) => updates.push(typing));
  const errors: unknown[] = [];
  const tracker = new TypingTracker(engine, timeoutMs, (e) => errors.push(e));
  return { engine, tracker, updates, errors };
}

describe('TypingTracker ordering', () => {
  it('two stops at once end the indicator once: the second says it was not typing', async () => {
    const { engine, tracker, updates } = await tracked(5000);
    await engine.createSession({ id: 'room', createdBy: 'owner', memberIds: ['alice'] });
    await tracker.start('room', 'alice', 'socket-1', undefined);
    expect(await Promise.all([tracker.stop('room', 'alice'), tracker.stop('room', 'alice')])).toEqual([true, false]);
    expect(updates).toEqual([true, false]);
    await engine.close();
  });

  it('a start right behind a stop leaves the user typing, and still tracked so it can end', async () => {
    const { engine, tracker, updates } = await tracked(5000);
    await engine.createSession({ id: 'room', createdBy: 'owner', memberIds: ['alice'] });
    await tracker.start('room', 'alice', 'socket-1', undefined);
    await Promise.all([tracker.stop('room', 'alice'), tracker.start('room', 'alice', 'socket-1', undefined)]);
    expect(updates).toEqual([true, false, true]);
    expect(tracker.size).toBe(1);
    tracker.socketGone('socket-1');
    await until(() => updates.length === 4, 2000, 'the indicator to end');
    expect(updates).toEqual([true, false, true, false]);
    await engine.close();
  });
});

describe('TypingTracker memory', () => {
  it('remembers only who is typing: stopped, expired, refused and departed typists are forgotten', async () => {
    const { engine, tracker, errors } = await tracked(500);
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    await engine.createSession({ id: 'room', createdBy: 'owner', memberIds: users });
    for (const [i, user] of users.entries()) await tracker.start('room', user, `socket-${i % 4}`, undefined);
    expect(tracker.size).toBe(40);

    for (const user of users.slice(0, 10)) expect(await tracker.stop('room', user)).toBe(true);
    for (const user of users.slice(10, 20)) tracker.messageSent('room', user);
    tracker.socketGone('socket-3');
    await until(() => tracker.size === 40 - 20 - 5, 2000, 'stops and departures to be forgotten');
    await until(() => tracker.size === 0, 3000, 'idle typists to expire');

    // Someone who may not type there (not a member) leaves nothing behind either.
    await expect(tracker.start('room', 'stranger', 'socket-9', undefined)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(tracker.size).toBe(0);
    expect(await tracker.stop('room', 'stranger')).toBe(false);
    expect(errors).toEqual([]);
    tracker.close();
    await engine.close();
  });
});
