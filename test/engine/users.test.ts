import { ChatEngine, MemoryStorage, type Message, type UserProfile } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { expectChatError, memoryEngine, NO_RATE_LIMITS } from '../support/engine.js';

/** A MemoryStorage that counts the profile calls: writes only on change, reads one per batch. */
class CountingStorage extends MemoryStorage {
  saves = 0;
  reads: string[][] = [];
  override async saveUser(profile: UserProfile, at: Date): Promise<void> {
    this.saves++;
    return super.saveUser(profile, at);
  }
  override async getUsers(ids: readonly string[]): Promise<UserProfile[]> {
    this.reads.push([...ids]);
    return super.getUsers(ids);
  }
}

async function setup(clock?: () => Date) {
  const storage = new CountingStorage();
  const engine = await memoryEngine({ storage, ...(clock && { now: clock }) });
  return { storage, engine };
}

describe('user profiles in the engine', () => {
  it('getUsers answers the stored profiles in the order asked, once each; ids without one are left out', async () => {
    const { engine } = await setup();
    await engine.rememberUser({ userId: 'alice', name: 'Alice Martin', avatarUrl: 'https://cdn.example.com/alice.png' });
    await engine.rememberUser({ userId: 'bob', name: 'Bob' });
    expect(await engine.getUsers(['bob', 'nobody', 'alice', 'bob'])).toEqual([
      { id: 'bob', name: 'Bob', avatarUrl: null },
      { id: 'alice', name: 'Alice Martin', avatarUrl: 'https://cdn.example.com/alice.png' },
    ]);
  });

  it('writes a profile only when it changed: the same name again costs nothing, concurrent ones write once', async () => {
    const { storage, engine } = await setup();
    await Promise.all(Array.from({ length: 5 }, () => engine.rememberUser({ userId: 'alice', name: 'Alice' })));
    expect(storage.saves).toBe(1);
    await engine.rememberUser({ userId: 'alice', name: 'Alice' });
    expect(storage.saves).toBe(1);
    await engine.rememberUser({ userId: 'alice', name: 'Alice', avatarUrl: 'https://cdn.example.com/a.png' });
    await engine.rememberUser({ userId: 'alice', name: 'Alice B.', avatarUrl: 'https://cdn.example.com/a.png' });
    expect(storage.saves).toBe(3);
    // An identity without name or avatar leaves the stored profile alone.
    await engine.rememberUser({ userId: 'alice' });
    expect(storage.saves).toBe(3);
    expect(await engine.getUsers(['alice'])).toEqual([{ id: 'alice', name: 'Alice B.', avatarUrl: 'https://cdn.example.com/a.png' }]);
  });

  it('refuses a bad profile or lookup with VALIDATION and writes nothing', async () => {
    const { storage, engine } = await setup();
    await expectChatError(engine.rememberUser({ userId: 'alice', name: '   ' }), 'VALIDATION');
    await expectChatError(engine.rememberUser({ userId: 'alice', name: 'x'.repeat(101) }), 'VALIDATION');
    await expectChatError(engine.rememberUser({ userId: 'alice', name: 'Alice', avatarUrl: 'javascript:alert(1)' }), 'VALIDATION');
    await expectChatError(engine.rememberUser({ userId: 'bad id!', name: 'Alice' }), 'VALIDATION');
    expect(storage.saves).toBe(0);
    await expectChatError(engine.getUsers([]), 'VALIDATION');
    await expectChatError(engine.getUsers(Array.from({ length: 101 }, (_, i) => `u${i}`)), 'VALIDATION');
    await expectChatError(engine.getUsers(['ok', 'not ok']), 'VALIDATION');
    await expectChatError(engine.getUsers('alice' as unknown as string[]), 'VALIDATION');
    expect(storage.reads).toEqual([]);
  });

  it('members, presence and a join carry names, from one storage read for the names not known yet', async () => {
    const { storage, engine } = await setup();
    await engine.rememberUser({ userId: 'alice', name: 'Alice', avatarUrl: 'https://cdn.example.com/a.png' });
    const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob', 'carol'] });
    await new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS }).rememberUser({ userId: 'bob', name: 'Bob' }); // another node
    const members = await engine.listMembers(session.id, 'alice');
    expect(members.map((m) => [m.userId, m.name, m.avatarUrl])).toEqual([
      ['alice', 'Alice', 'https://cdn.example.com/a.png'],
      ['bob', 'Bob', null],
      ['carol', null, null],
    ]);
    expect(storage.reads).toEqual([['bob', 'carol']]); // alice was known; one read for the others
    const presence = await engine.getPresence(session.id, 'bob');
    expect(presence.map((p) => [p.userId, p.name, p.status])).toEqual([
      ['alice', 'Alice', 'offline'],
      ['bob', 'Bob', 'offline'],
      ['carol', null, 'offline'],
    ]);
    const join = await engine.joinSession(session.id, 'carol');
    expect(join.members.map((m) => m.name)).toEqual(['Alice', 'Bob', null]);
    expect(storage.reads).toHaveLength(1); // all cached now
  });

  it('messages carry their author\'s current name: one storage read per page, never one per message', async () => {
    const { storage, engine } = await setup();
    const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const created: Message[] = [];
    engine.on('message.created', ({ message }) => created.push(message));
    await engine.rememberUser({ userId: 'alice', name: 'Alice' });
    const sent = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hi' });
    expect(sent.authorName).toBe('Alice');
    expect(created[0]!.authorName).toBe('Alice');
    for (let i = 0; i < 10; i++) await engine.createMessage({ sessionId: session.id, userId: i % 2 ? 'bob' : 'alice', content: `m${i}` });
    const fresh = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS }); // nothing cached
    storage.reads = [];
    const page = await fresh.getMessageHistory(session.id, 'bob', { limit: 50 });
    expect(storage.reads).toEqual([['alice', 'bob']]);
    expect(new Set(page.messages.map((m) => `${m.userId}:${m.authorName}`))).toEqual(new Set(['alice:Alice', 'bob:null']));
    // A rename shows on the old messages too.
    await engine.rememberUser({ userId: 'alice', name: 'Alice Martin' });
    const again = await engine.getMessageHistory(session.id, 'bob', { limit: 1, offset: 10 });
    expect(again.messages[0]!.authorName).toBe('Alice Martin');
    expect((await engine.getMessage(sent.id, 'bob')).authorName).toBe('Alice Martin');
    expect((await engine.searchMessages(session.id, 'bob', 'hi')).messages[0]!.authorName).toBe('Alice Martin');
    expect((await engine.editMessage(sent.id, 'hello', 'alice')).authorName).toBe('Alice Martin');
    const replay = await engine.joinSession(session.id, 'bob', { lastSeq: 0 });
    expect(replay.replay.every((r) => r.message.authorName === (r.message.userId === 'alice' ? 'Alice Martin' : null))).toBe(true);
  });

  it('a server message has no author name and costs no read', async () => {
    const { storage, engine } = await setup();
    const session = await engine.createSession({ createdBy: 'alice' });
    const prompt = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'x' });
    storage.reads = [];
    const thread = await engine.getThreadMessages(prompt.id, 'alice');
    expect(thread).toEqual([]);
    expect(storage.reads).toEqual([]);
  });

  it("typing carries the typist's profile name when the binding gives none", async () => {
    const { engine } = await setup();
    const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    await engine.rememberUser({ userId: 'bob', name: 'Bob' });
    const events: (string | null)[] = [];
    engine.on('typing.updated', ({ name }) => events.push(name));
    await engine.setTyping(session.id, 'bob', true);
    await engine.setTyping(session.id, 'bob', true, 'Bobby');
    await engine.setTyping(session.id, 'alice', false);
    expect(events).toEqual(['Bob', 'Bobby', null]);
  });

  it('a profile read that fails leaves the names out but never fails a committed send or its event', async () => {
    const storage = new CountingStorage();
    const engine = await memoryEngine({ storage, logger: { error: () => {}, warn: () => {} } });
    const session = await engine.createSession({ createdBy: 'alice' });
    const warnings: unknown[] = [];
    engine.on('error', ({ error }) => warnings.push(error));
    storage.getUsers = () => Promise.reject(new Error('connection lost'));
    const events: Message[] = [];
    engine.on('message.created', ({ message }) => events.push(message));
    const sent = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'still sent' });
    expect(sent.authorName).toBeNull();
    expect(events.map((m) => m.id)).toEqual([sent.id]);
    expect((await engine.listMembers(session.id, 'alice'))[0]!.name).toBeNull();
    expect(warnings.length).toBeGreaterThan(0);
  });

  it("another node's rename shows once the cached profile is a minute old", async () => {
    let now = Date.UTC(2026, 0, 1);
    const storage = new CountingStorage();
    const clock = () => new Date(now);
    const a = await memoryEngine({ storage, now: clock });
    const b = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS, now: clock });
    await a.rememberUser({ userId: 'alice', name: 'Alice' });
    expect((await b.getUsers(['alice']))[0]!.name).toBe('Alice');
    await a.rememberUser({ userId: 'alice', name: 'Alicia' });
    now += 30_000;
    expect((await b.getUsers(['alice']))[0]!.name).toBe('Alice');
    now += 31_000;
    expect((await b.getUsers(['alice']))[0]!.name).toBe('Alicia');
  });
});
