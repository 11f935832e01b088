import { Adapter } from 'socket.io-adapter';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeAll, sleep, startChat, type ChatFixture, type Tab } from './harness.js';

/**
 * Presence is counted from the adapter (`fetchSockets`), which on a cluster answers a network round
 * trip later: two tabs of a user can each ask while the other is already counted. Exactly one of them
 * must announce (docs/socket-io.md). The adapter below is Socket.io's own in-memory one whose
 * answers can be held back, as a slow cluster's are, or fail, as a cluster's do when a node times out.
 */

afterEach(() => {
  vi.restoreAllMocks();
  return closeAll();
});

function slowAdapter() {
  const control = { held: null as Promise<void> | null, release: () => {}, failing: false };
  class SlowAdapter extends Adapter {
    override async fetchSockets(opts: Parameters<Adapter['fetchSockets']>[0]) {
      if (control.held) await control.held;
      if (control.failing) throw new Error('timeout reached: only 1 responses received out of 2');
      return super.fetchSockets(opts);
    }
  }
  const hold = () => {
    control.held = new Promise<void>((resolve) => {
      control.release = () => {
        control.held = null;
        resolve();
      };
    });
  };
  return { SlowAdapter, control, hold };
}

async function lobby(f: ChatFixture): Promise<{ sessionId: string; carol: Tab }> {
  const { id: sessionId } = await f.engine.createSession({ id: 'lobby', createdBy: 'carol', memberIds: ['alice'] });
  const carol = await f.connect('carol');
  await carol.call('session:join', { sessionId });
  return { sessionId, carol };
}

/** Runs `open` with Date.now() frozen, so everything it stamps has the same time. */
async function atOneInstant<T>(open: () => Promise<T>): Promise<T> {
  const now = Date.now();
  const spy = vi.spyOn(Date, 'now').mockReturnValue(now);
  try {
    return await open();
  } finally {
    spy.mockRestore();
  }
}

describe('socket.io binding: presence checks that overlap', () => {
  for (const when of ['one after the other', 'in the same millisecond']) {
    it(`two tabs connecting ${when}, each counting the other, announce online exactly once`, async () => {
      const { SlowAdapter, control, hold } = slowAdapter();
      const f = await startChat({ server: { adapter: SlowAdapter as never } });
      const { carol } = await lobby(f);
      hold();
      const open = async () => [await f.connect('alice'), await sleep(when === 'in the same millisecond' ? 0 : 5), await f.connect('alice')];
      await (when === 'in the same millisecond' ? atOneInstant(open) : open());
      control.release();
      await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'alice');
      await sleep(80);
      expect(carol.received.of('presence:update').filter((p) => p.userId === 'alice' && p.status === 'online')).toHaveLength(1);
    });

    it(`two tabs joining a session ${when}, each counting the other, announce user:joined exactly once`, async () => {
      const { SlowAdapter, control, hold } = slowAdapter();
      const f = await startChat({ server: { adapter: SlowAdapter as never } });
      const { sessionId, carol } = await lobby(f);
      const tabs = [await f.connect('alice'), await f.connect('alice')];
      await sleep(30);
      hold(); // each join now waits for the members' presence, both already in the room
      const join = async () => {
        const acks = [tabs[0]!.call('session:join', { sessionId })];
        await sleep(when === 'in the same millisecond' ? 20 : 5);
        acks.push(tabs[1]!.call('session:join', { sessionId }));
        await sleep(20);
        return acks;
      };
      const acks = await (when === 'in the same millisecond' ? atOneInstant(join) : join());
      control.release();
      for (const ack of await Promise.all(acks)) expect(ack.ok).toBe(true);
      await carol.received.waitFor('user:joined', 1, (e) => e.userId === 'alice');
      await sleep(80);
      expect(carol.received.of('user:joined').filter((e) => e.userId === 'alice')).toHaveLength(1);
    });
  }
});

describe('socket.io binding: presence when the adapter cannot answer', () => {
  it('asking for presence is refused as unavailable, but joining a session still works, everyone shown offline', async () => {
    const { SlowAdapter, control } = slowAdapter();
    const f = await startChat({ server: { adapter: SlowAdapter as never } });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'carol', memberIds: ['alice'] });
    const alice = await f.connect('alice');
    await sleep(30);
    control.failing = true;
    const error = await f.binding.getPresence(['alice']).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'UNAVAILABLE', message: 'Presence is unavailable right now' });
    // nothing about the cluster reaches a client
    expect(JSON.stringify(error)).not.toContain('timeout reached');

    const ack = await alice.call('session:join', { sessionId });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    expect(ack.data.presence).toEqual([
      { userId: 'carol', name: null, status: 'offline', lastSeenAt: null },
      { userId: 'alice', name: null, status: 'offline', lastSeenAt: null },
    ]);
    expect(f.reported.some((e) => (e as { code?: string }).code === 'UNAVAILABLE')).toBe(true);
  });
});
