import { ChatEngine, MemoryStorage, type AuthorizeContext } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { expectChatError, memoryEngine, NO_RATE_LIMITS, storedState } from '../support/engine.js';

/**
 * The authorization matrix: owner, author (a member), another member, a non-member and
 * a removed member against every engine method. The message under test is written by the author.
 */
type Actor = 'owner' | 'author' | 'member' | 'outsider' | 'removed';
const ACTORS: Actor[] = ['owner', 'author', 'member', 'outsider', 'removed'];

interface Fixture {
  engine: ChatEngine;
  sessionId: string;
  messageId: string;
  attachmentId: string;
}

async function fixture(engine?: ChatEngine): Promise<Fixture> {
  engine ??= await memoryEngine();
  const session = await engine.createSession({ createdBy: 'owner', memberIds: ['author', 'member', 'removed', 'victim'] });
  await engine.removeMember(session.id, 'removed');
  const message = await engine.createMessage({
    sessionId: session.id,
    userId: 'author',
    content: 'hello world',
    attachments: [{ fileName: 'a.png', fileUrl: 'https://cdn.example.com/a.png', mimeType: 'image/png', fileSize: 10 }],
  });
  return { engine, sessionId: session.id, messageId: message.id, attachmentId: message.attachments[0]!.id };
}

type Call = (f: Fixture, actor: Actor) => Promise<unknown>;

const METHODS: Record<string, { call: Call; allowed: Actor[]; writes: boolean }> = {
  getSession: { call: (f, a) => f.engine.getSession(f.sessionId, a), allowed: ['owner', 'author', 'member'], writes: false },
  listMembers: { call: (f, a) => f.engine.listMembers(f.sessionId, a), allowed: ['owner', 'author', 'member'], writes: false },
  getPresence: { call: (f, a) => f.engine.getPresence(f.sessionId, a), allowed: ['owner', 'author', 'member'], writes: false },
  getMessageHistory: { call: (f, a) => f.engine.getMessageHistory(f.sessionId, a, {}), allowed: ['owner', 'author', 'member'], writes: false },
  getMessage: { call: (f, a) => f.engine.getMessage(f.messageId, a), allowed: ['owner', 'author', 'member'], writes: false },
  searchMessages: { call: (f, a) => f.engine.searchMessages(f.sessionId, a, 'hello'), allowed: ['owner', 'author', 'member'], writes: false },
  getThreadMessages: { call: (f, a) => f.engine.getThreadMessages(f.messageId, a), allowed: ['owner', 'author', 'member'], writes: false },
  getMessageReactions: { call: (f, a) => f.engine.getMessageReactions(f.messageId, a), allowed: ['owner', 'author', 'member'], writes: false },
  getAttachments: { call: (f, a) => f.engine.getAttachments(f.messageId, a), allowed: ['owner', 'author', 'member'], writes: false },
  createMessage: {
    call: (f, a) => f.engine.createMessage({ sessionId: f.sessionId, userId: a, content: 'hi' }),
    allowed: ['owner', 'author', 'member'],
    writes: true,
  },
  'createMessage (thread reply)': {
    call: (f, a) => f.engine.createMessage({ sessionId: f.sessionId, userId: a, content: 'reply', parentMessageId: f.messageId }),
    allowed: ['owner', 'author', 'member'],
    writes: true,
  },
  editMessage: { call: (f, a) => f.engine.editMessage(f.messageId, 'edited', a), allowed: ['author'], writes: true },
  deleteMessage: { call: (f, a) => f.engine.deleteMessage(f.messageId, a), allowed: ['owner', 'author'], writes: true },
  toggleReaction: { call: (f, a) => f.engine.toggleReaction(f.messageId, a, '👍'), allowed: ['owner', 'author', 'member'], writes: true },
  addAttachment: {
    call: (f, a) =>
      f.engine.addAttachment(f.messageId, { fileName: 'b.pdf', fileUrl: 'https://cdn.example.com/b.pdf', mimeType: 'application/pdf', fileSize: 5 }, a),
    allowed: ['author'],
    writes: true,
  },
  deleteAttachment: { call: (f, a) => f.engine.deleteAttachment(f.attachmentId, a), allowed: ['author'], writes: true },
  markSeen: { call: (f, a) => f.engine.markSeen(f.sessionId, f.messageId, a), allowed: ['owner', 'author', 'member'], writes: true },
  setTyping: { call: (f, a) => f.engine.setTyping(f.sessionId, a, true), allowed: ['owner', 'author', 'member'], writes: false },
  addMember: { call: (f, a) => f.engine.addMember(f.sessionId, 'newcomer', a), allowed: ['owner'], writes: true },
  removeMember: { call: (f, a) => f.engine.removeMember(f.sessionId, 'victim', a), allowed: ['owner'], writes: true },
};

describe('authorization matrix (members policy)', () => {
  for (const [method, { call, allowed, writes }] of Object.entries(METHODS)) {
    for (const actor of ACTORS) {
      const ok = allowed.includes(actor);
      it(`${method} as ${actor} is ${ok ? 'allowed' : 'FORBIDDEN'}`, async () => {
        const f = await fixture();
        const before = await storedState(f.engine, f.sessionId);
        if (ok) {
          await call(f, actor); // throws on refusal
        } else {
          await expectChatError(call(f, actor), 'FORBIDDEN');
          if (writes) expect(await storedState(f.engine, f.sessionId)).toEqual(before);
        }
      });
    }
  }

  it('a member may remove themselves (leave), but not someone else', async () => {
    const f = await fixture();
    await expectChatError(f.engine.removeMember(f.sessionId, 'author', 'member'), 'FORBIDDEN');
    await expect(f.engine.removeMember(f.sessionId, 'member', 'member')).resolves.toEqual({ removed: true });
    await expectChatError(f.engine.getMessageHistory(f.sessionId, 'member'), 'FORBIDDEN');
  });

  it('a removed member who is added again gets access back', async () => {
    const f = await fixture();
    await f.engine.addMember(f.sessionId, 'removed', 'owner');
    await expect(f.engine.getMessageHistory(f.sessionId, 'removed')).resolves.toMatchObject({ total: 1 });
  });

  it('only the author edits; an owner may delete anyone’s message', async () => {
    const f = await fixture();
    await expectChatError(f.engine.editMessage(f.messageId, 'x', 'owner'), 'FORBIDDEN');
    const deleted = await f.engine.deleteMessage(f.messageId, 'owner');
    expect(deleted).toMatchObject({ isDeleted: true, content: '' });
  });
});

describe('unknown ids are NOT_FOUND, for anyone', () => {
  const unknownMessage = '01890000-0000-7000-8000-000000000000';
  const cases: Record<string, (f: Fixture) => Promise<unknown>> = {
    getSession: (f) => f.engine.getSession('no-such-session', 'owner'),
    getMessageHistory: (f) => f.engine.getMessageHistory('no-such-session', 'owner'),
    createMessage: (f) => f.engine.createMessage({ sessionId: 'no-such-session', userId: 'owner', content: 'x' }),
    'createMessage with unknown parent': (f) =>
      f.engine.createMessage({ sessionId: f.sessionId, userId: 'owner', content: 'x', parentMessageId: unknownMessage }),
    getMessage: (f) => f.engine.getMessage(unknownMessage, 'owner'),
    editMessage: (f) => f.engine.editMessage(unknownMessage, 'x', 'owner'),
    deleteMessage: (f) => f.engine.deleteMessage(unknownMessage, 'owner'),
    toggleReaction: (f) => f.engine.toggleReaction(unknownMessage, 'owner', '👍'),
    addAttachment: (f) =>
      f.engine.addAttachment(unknownMessage, { fileName: 'a', fileUrl: 'https://x.example/a', mimeType: 'text/plain', fileSize: 1 }, 'owner'),
    deleteAttachment: (f) => f.engine.deleteAttachment(unknownMessage, 'owner'),
    getThreadMessages: (f) => f.engine.getThreadMessages(unknownMessage, 'owner'),
    searchMessages: (f) => f.engine.searchMessages('no-such-session', 'owner', 'hello'),
    markSeen: (f) => f.engine.markSeen(f.sessionId, unknownMessage, 'owner'),
    addMember: (f) => f.engine.addMember('no-such-session', 'x', 'owner'),
  };
  for (const [name, call] of Object.entries(cases)) {
    it(name, async () => {
      const f = await fixture();
      await expectChatError(call(f), 'NOT_FOUND');
    });
  }

  it('a message of another session cannot be a thread parent or a seen marker', async () => {
    const f = await fixture();
    const other = await f.engine.createSession({ createdBy: 'owner' });
    await expectChatError(
      f.engine.createMessage({ sessionId: other.id, userId: 'owner', content: 'x', parentMessageId: f.messageId }),
      'NOT_FOUND',
    );
    await expectChatError(f.engine.markSeen(other.id, f.messageId, 'owner'), 'NOT_FOUND');
  });
});

describe('policies', () => {
  it("'open' lets anyone read and write, but not edit others' messages or manage members", async () => {
    const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: NO_RATE_LIMITS, authorize: 'open' });
    const f = await fixture(engine);
    await expect(engine.getMessageHistory(f.sessionId, 'outsider')).resolves.toMatchObject({ total: 1 });
    await expect(engine.createMessage({ sessionId: f.sessionId, userId: 'outsider', content: 'hi' })).resolves.toBeDefined();
    await expectChatError(engine.editMessage(f.messageId, 'x', 'outsider'), 'FORBIDDEN');
    await expectChatError(engine.addMember(f.sessionId, 'someone', 'outsider'), 'FORBIDDEN');
  });

  it('a custom function sees the full context and decides every path', async () => {
    const seen: AuthorizeContext[] = [];
    const engine = new ChatEngine({
      storage: new MemoryStorage(),
      rateLimits: NO_RATE_LIMITS,
      authorize: async (ctx) => {
        seen.push(ctx);
        return ctx.userId !== 'author' || ctx.action === 'session:read';
      },
    });
    const session = await engine.createSession({ createdBy: 'owner', memberIds: ['author'] });
    await expectChatError(engine.createMessage({ sessionId: session.id, userId: 'author', content: 'x' }), 'FORBIDDEN');
    await expect(engine.getMessageHistory(session.id, 'author')).resolves.toMatchObject({ total: 0 });
    expect(seen).toContainEqual({ userId: 'author', sessionId: session.id, action: 'message:send', role: 'member' });
  });

  it('trusted server calls (no userId) skip authorization but not validation', async () => {
    const f = await fixture();
    await expect(f.engine.getMessageHistory(f.sessionId, undefined)).resolves.toMatchObject({ total: 1 });
    const bot = await f.engine.createMessage({ sessionId: f.sessionId, userId: 'bot', content: 'beep' }, { trusted: true });
    expect(bot.userId).toBe('bot');
    await expectChatError(f.engine.createMessage({ sessionId: f.sessionId, userId: 'bot', content: '' }, { trusted: true }), 'VALIDATION');
  });

  it('a send (a history page, a search) under the built-in policy is authorized by its own statement: no access read, a refused batch-mate never costs the others', async () => {
    const storage = new MemoryStorage();
    let accessReads = 0;
    const getSessionAccess = storage.getSessionAccess.bind(storage);
    storage.getSessionAccess = (sessionId, userId) => {
      accessReads++;
      return getSessionAccess(sessionId, userId);
    };
    const engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS });
    const session = await engine.createSession({ createdBy: 'owner', memberIds: ['a', 'b', 'removed'] });
    await engine.removeMember(session.id, 'removed');
    accessReads = 0;
    // Sent in one turn, so they share a batch: the outsiders' sends fail alone.
    const results = await Promise.allSettled(
      ['a', 'outsider', 'b', 'removed', 'owner'].map((userId) => engine.createMessage({ sessionId: session.id, userId, content: `from ${userId}` })),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.seq : (r.reason as { code: string }).code))).toEqual([1, 'FORBIDDEN', 2, 'FORBIDDEN', 3]);
    expect(accessReads).toBe(0);
    await expectChatError(engine.createMessage({ sessionId: 'no-such-session', userId: 'a', content: 'x' }), 'NOT_FOUND');
    // A top-level history page checks its reader in its own statement too.
    expect((await engine.getMessageHistory(session.id, 'a')).messages.map((m) => m.content)).toEqual(['from a', 'from b', 'from owner']);
    await expectChatError(engine.getMessageHistory(session.id, 'removed'), 'FORBIDDEN');
    await expectChatError(engine.getMessageHistory('no-such-session', 'a'), 'NOT_FOUND');
    await expectChatError(engine.getMessageHistory('no-such-session', undefined), 'NOT_FOUND');
    // And a search, in its count statement.
    expect((await engine.searchMessages(session.id, 'b', 'from')).total).toBe(3);
    await expectChatError(engine.searchMessages(session.id, 'outsider', 'from'), 'FORBIDDEN');
    await expectChatError(engine.searchMessages('no-such-session', 'a', 'from'), 'NOT_FOUND');
    expect(accessReads).toBe(0);
  });

  it('with a beforeMessage hook the access check comes first: the hook never sees an outsider\'s text', async () => {
    const hooked: string[] = [];
    const engine = await memoryEngine({ moderation: { beforeMessage: ({ userId, content }) => (hooked.push(`${userId}: ${content}`), content) } });
    const session = await engine.createSession({ createdBy: 'owner', memberIds: ['a'] });
    await expectChatError(engine.createMessage({ sessionId: session.id, userId: 'outsider', content: 'secret' }), 'FORBIDDEN');
    await engine.createMessage({ sessionId: session.id, userId: 'a', content: 'hi' });
    expect(hooked).toEqual(['a: hi']);
  });
});
