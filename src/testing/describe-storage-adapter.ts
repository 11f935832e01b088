import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isChatError } from '../errors.js';
import { newId } from '../ids.js';
import type { Message, MessagePage, MessagePart, Reaction, Session, SessionMember, StreamRecord } from '../model.js';
import type { NewAttachment, NewMessage, NewSession, NewStream, StorageAdapter } from '../ports/storage.js';
import { defineUserProfileCases } from './user-profile-cases.js';

export interface DescribeStorageAdapterOptions<A extends StorageAdapter = StorageAdapter> {
  /** Shown in the suite title, e.g. `'sqlite'`. */
  name: string;
  /** Returns a fresh, empty adapter. Do not call `init()`: the suite does. */
  create: () => A | Promise<A>;
  /** Runs after the suite has called `close()`, e.g. to drop a test database or delete a file. */
  destroy?: (adapter: A) => void | Promise<void>;
  /** When set, the whole suite is registered as skipped, with this reason in its title. */
  skip?: string;
}

/** Heavy cases (hundreds of concurrent writes) get more than vitest's default 5 s. */
const SLOW = 60_000;

/**
 * Registers the storage conformance suite: one `describe` block whose cases each check one rule of
 * the `StorageAdapter` contract (from `parley-chat`). One adapter serves the whole suite; every case works in its
 * own freshly created sessions, so the cases do not depend on each other or on their order.
 *
 * @example
 * ```ts
 * // test/my-storage.test.ts
 * import { describeStorageAdapter } from 'parley-chat/testing';
 * import { MyStorage } from '../src/my-storage.js';
 *
 * describeStorageAdapter({
 *   name: 'my-db',
 *   create: () => new MyStorage({ url: process.env.TEST_DB_URL! }),
 *   skip: process.env.TEST_DB_URL ? undefined : 'TEST_DB_URL is not set',
 * });
 * ```
 */
export function describeStorageAdapter<A extends StorageAdapter>(options: DescribeStorageAdapterOptions<A>): void {
  const title = `StorageAdapter conformance: ${options.name}`;
  // Registering the real cases as skipped lists exactly what was not checked, and why.
  const group = options.skip === undefined ? describe : describe.skip;
  group(options.skip === undefined ? title : `${title} (skipped: ${options.skip})`, () => {
    defineCases(options);
  });
}

function defineCases<A extends StorageAdapter>(options: DescribeStorageAdapterOptions<A>): void {
  let storage: A | undefined;

  beforeAll(async () => {
    storage = await options.create();
    await storage.init();
  }, SLOW);

  afterAll(async () => {
    if (storage === undefined) return;
    const adapter = storage;
    storage = undefined;
    await adapter.close();
    await options.destroy?.(adapter);
  }, SLOW);

  // ---- fixtures ---------------------------------------------------------------------------

  const db = (): A => {
    if (storage === undefined) throw new Error('the adapter was not created (see the beforeAll error)');
    return storage;
  };

  // A fake engine clock: every call is one second later, so "newest" and "in the order made" are unambiguous.
  const base = Date.UTC(2024, 0, 1, 12, 0, 0);
  let ticks = 0;
  const clock = (): Date => new Date(base + ++ticks * 1000);

  const uid = (prefix: string): string => `${prefix}-${newId()}`;

  /** Awaits `call` (started just before, so no rejection goes unhandled) and checks its ChatError code. */
  const expectCode = async (call: Promise<unknown>, code: string): Promise<void> => {
    const error = await call.then(() => null, (e: unknown) => e);
    expect(isChatError(error) && error.code, String(error)).toBe(code);
  };

  const newSession = (input: Partial<NewSession> = {}): Promise<Session> =>
    db().createSession({
      id: uid('session'),
      title: 'Conformance',
      createdBy: uid('owner'),
      metadata: null,
      memberIds: [],
      at: clock(),
      ...input,
    });

  const draft = (sessionId: string, fields: Partial<NewMessage> = {}): NewMessage => ({
    id: newId(),
    sessionId,
    userId: 'author',
    agentId: null,
    role: 'user',
    content: 'hello',
    metadata: null,
    tokens: null,
    parentMessageId: null,
    clientMessageId: null,
    attachments: [],
    at: clock(),
    ...fields,
  });

  const attachment = (fields: Partial<NewAttachment> = {}): NewAttachment => ({
    id: newId(),
    fileName: 'report.pdf',
    fileUrl: 'https://files.example.com/report.pdf',
    mimeType: 'application/pdf',
    fileSize: 1234,
    metadata: null,
    ...fields,
  });

  /** Inserts one message and returns it (it must be created). */
  const post = async (sessionId: string, fields: Partial<NewMessage> = {}): Promise<Message> => {
    const [result] = await db().insertMessages([draft(sessionId, fields)]);
    expect(result?.created).toBe(true);
    return must(result).message;
  };

  const sessionNow = async (sessionId: string): Promise<Session> => must(await db().getSession(sessionId));
  const lastSeq = async (sessionId: string): Promise<number> => (await sessionNow(sessionId)).lastSeq;

  const react = (messageId: string, userId: string, emoji: string, action: 'add' | 'remove' | 'toggle') =>
    db().setReaction({ id: newId(), messageId, userId, emoji, action, at: clock() });

  const softDelete = (messageId: string) => {
    const at = clock();
    return db().updateMessage(messageId, { content: '', isDeleted: true, deletedAt: at, at }, { bumpSeq: true });
  };

  /** The two messages a stream starts with (the prompt, then the empty answer) and the stream itself. */
  const streamStart = (sessionId: string, fields: Partial<NewStream> = {}, prompt: Partial<NewMessage> = {}) => {
    const at = fields.at ?? clock();
    const question = draft(sessionId, { userId: 'asker', content: 'What is the answer?', at, ...prompt });
    const answer = draft(sessionId, { userId: null, agentId: 'assistant', role: 'assistant', content: '', metadata: { status: 'streaming' }, at });
    const stream: NewStream = {
      id: newId(),
      sessionId,
      messageId: answer.id,
      promptMessageId: question.id,
      userId: 'asker',
      agentId: 'assistant',
      model: 'test-model',
      maxTokens: 100,
      nodeId: 'node-a',
      at,
      ...fields,
    };
    return { stream, messages: [question, answer] };
  };

  const startStream = async (sessionId: string, fields: Partial<NewStream> = {}) => {
    const result = await db().createStream(streamStart(sessionId, fields));
    return result.stream;
  };

  // ---- lifecycle --------------------------------------------------------------------------

  describe('lifecycle', () => {
    it('has a non-empty name', () => {
      expect(typeof db().name).toBe('string');
      expect(db().name.length).toBeGreaterThan(0);
    });

    it('init() is idempotent: calling it again keeps the stored data', async () => {
      const session = await newSession();
      const message = await post(session.id);
      await db().init();
      expect(await db().getSession(session.id)).toEqual(await sessionNow(session.id));
      expect(await db().getMessage(message.id)).toEqual(message);
    });
  });

  defineUserProfileCases(db, clock);

  // ---- sessions and members ---------------------------------------------------------------

  describe('sessions and members', () => {
    it('createSession returns the session with lastSeq 0, messageCount 0 and createdAt = at (ISO)', async () => {
      const at = clock();
      const id = uid('session');
      const metadata = { topic: 'planning', tags: ['a', 'b'], nested: { n: 1.5, ok: true, none: null } };
      const session = await db().createSession({ id, title: 'Weekly sync', createdBy: 'alice', metadata, memberIds: [], at });
      const expected: Session = { id, title: 'Weekly sync', createdBy: 'alice', metadata, lastSeq: 0, messageCount: 0, createdAt: at.toISOString() };
      expect(session).toEqual(expected);
      expect(await db().getSession(id)).toEqual(expected);

      const untitled = await newSession({ title: null, metadata: null });
      expect(untitled.title).toBeNull();
      expect(untitled.metadata).toBeNull();
    });

    it('createSession makes the creator the owner and each memberId a member, without duplicates, in join order', async () => {
      const at = clock();
      // Ids chosen so that alphabetical order differs from join order.
      const owner = uid('m-owner');
      const zed = uid('z-member');
      const amy = uid('a-member');
      const session = await newSession({ createdBy: owner, memberIds: [zed, owner, amy, zed, amy], at });
      const member = (userId: string, role: 'owner' | 'member'): SessionMember => ({
        sessionId: session.id,
        userId,
        role,
        lastReadSeq: 0,
        lastDeliveredSeq: 0,
        lastSeenAt: null,
        joinedAt: at.toISOString(),
      });
      expect(await db().listMembers(session.id)).toEqual([member(owner, 'owner'), member(zed, 'member'), member(amy, 'member')]);
      expect(await db().getMember(session.id, owner)).toEqual(member(owner, 'owner'));
      expect(await db().getMember(session.id, amy)).toEqual(member(amy, 'member'));
    });

    it("createSession throws ChatError('CONFLICT') for an existing id and changes nothing", async () => {
      const session = await newSession({ title: 'original', memberIds: ['m1'] });
      const error = await caught(
        db().createSession({ id: session.id, title: 'impostor', createdBy: 'mallory', metadata: null, memberIds: ['m2'], at: clock() }),
      );
      expect(isChatError(error)).toBe(true);
      expect((error as { code?: unknown }).code).toBe('CONFLICT');
      expect(await db().getSession(session.id)).toEqual(session);
      expect((await db().listMembers(session.id)).map((m) => m.userId)).toEqual([session.createdBy, 'm1']);
    });

    it('getSession returns null for an unknown id', async () => {
      expect(await db().getSession(uid('missing'))).toBeNull();
    });

    it('getSessionAccess returns the current session with the membership, member null for a non-member, null for an unknown session', async () => {
      const session = await newSession({ memberIds: ['bob'] });
      await post(session.id);
      const current = await sessionNow(session.id);
      expect(current.lastSeq).toBe(1);

      const owner = await db().getSessionAccess(session.id, session.createdBy);
      expect(owner?.session).toEqual(current);
      expect(owner?.member).toEqual(await db().getMember(session.id, session.createdBy));
      expect(owner?.member?.role).toBe('owner');

      const bob = await db().getSessionAccess(session.id, 'bob');
      expect(bob?.member?.role).toBe('member');

      const stranger = await db().getSessionAccess(session.id, 'stranger');
      expect(stranger).toEqual({ session: current, member: null });

      expect(await db().getSessionAccess(uid('missing'), 'bob')).toBeNull();
    });

    it('getMember returns null for a non-member and for an unknown session; listMembers returns [] for an unknown session', async () => {
      const session = await newSession();
      expect(await db().getMember(session.id, 'stranger')).toBeNull();
      expect(await db().getMember(uid('missing'), session.createdBy)).toBeNull();
      expect(await db().listMembers(uid('missing'))).toEqual([]);
    });

    it('addMember adds the user with the given role and joinedAt = at, after the existing members', async () => {
      const session = await newSession({ memberIds: ['first'] });
      const at = clock();
      const { member, added } = await db().addMember(session.id, 'second', 'member', at);
      expect(added).toBe(true);
      expect(member).toEqual({
        sessionId: session.id,
        userId: 'second',
        role: 'member',
        lastReadSeq: 0,
        lastDeliveredSeq: 0,
        lastSeenAt: null,
        joinedAt: at.toISOString(),
      });
      expect(await db().getMember(session.id, 'second')).toEqual(member);
      const co = await db().addMember(session.id, 'co-owner', 'owner', clock());
      expect(co.member.role).toBe('owner');
      expect((await db().listMembers(session.id)).map((m) => m.userId)).toEqual([session.createdBy, 'first', 'second', 'co-owner']);
    });

    it('addMember is idempotent: an existing member keeps role, cursors and joinedAt, and added is false', async () => {
      const session = await newSession({ memberIds: ['bob'] });
      await post(session.id);
      await post(session.id);
      await db().setReadCursor(session.id, 'bob', 1, clock());
      await db().setDeliveredCursor(session.id, 'bob', 2);
      const before = must(await db().getMember(session.id, 'bob'));

      const again = await db().addMember(session.id, 'bob', 'owner', clock());
      expect(again.added).toBe(false);
      expect(again.member).toEqual(before);
      expect(await db().getMember(session.id, 'bob')).toEqual(before);

      const owner = await db().addMember(session.id, session.createdBy, 'member', clock());
      expect(owner.added).toBe(false);
      expect(owner.member.role).toBe('owner');
      expect((await db().listMembers(session.id)).map((m) => m.userId)).toEqual([session.createdBy, 'bob']);
    });

    it('removeMember removes the membership (true), then returns false; false for an unknown session', async () => {
      const session = await newSession({ memberIds: ['bob', 'carol'] });
      expect(await db().removeMember(session.id, 'bob')).toBe(true);
      expect(await db().getMember(session.id, 'bob')).toBeNull();
      expect((await db().listMembers(session.id)).map((m) => m.userId)).toEqual([session.createdBy, 'carol']);
      expect((await db().listSessions('bob')).map((s) => s.id)).not.toContain(session.id);
      expect(await db().removeMember(session.id, 'bob')).toBe(false);
      expect(await db().removeMember(session.id, 'never-joined')).toBe(false);
      expect(await db().removeMember(uid('missing'), 'bob')).toBe(false);
    });

    it('a removed member can be added again as a new member with fresh cursors', async () => {
      const session = await newSession({ memberIds: ['bob'] });
      await post(session.id);
      await db().setReadCursor(session.id, 'bob', 1, clock());
      await db().removeMember(session.id, 'bob');
      const at = clock();
      const { member, added } = await db().addMember(session.id, 'bob', 'member', at);
      expect(added).toBe(true);
      expect(member).toMatchObject({ lastReadSeq: 0, lastDeliveredSeq: 0, lastSeenAt: null, joinedAt: at.toISOString() });
    });

    it('membership and cursor changes do not take a session seq (only message, reaction and attachment changes do)', async () => {
      const session = await newSession();
      await db().addMember(session.id, 'bob', 'member', clock());
      await db().setReadCursor(session.id, 'bob', 0, clock());
      await db().setDeliveredCursor(session.id, 'bob', 0);
      await db().removeMember(session.id, 'bob');
      expect(await sessionNow(session.id)).toEqual(session);
    });

    it('listSessions returns the sessions the user is a member of, as summaries with role and lastReadSeq; [] for a stranger', async () => {
      const user = uid('user');
      const owned = await newSession({ createdBy: user });
      const joined = await newSession({ memberIds: [user] });
      await newSession({ memberIds: ['someone-else'] });
      await post(joined.id, { userId: user });
      await db().setReadCursor(joined.id, user, 1, clock());

      const list = await db().listSessions(user);
      expect(list.map((s) => s.id).sort()).toEqual([owned.id, joined.id].sort());
      const summaryOfJoined = list.find((s) => s.id === joined.id);
      expect(summaryOfJoined).toEqual({ ...(await sessionNow(joined.id)), role: 'member', lastReadSeq: 1, unreadCount: 0 });
      expect(list.find((s) => s.id === owned.id)).toEqual({ ...owned, role: 'owner', lastReadSeq: 0, unreadCount: 0 });
      expect(await db().listSessions(uid('stranger'))).toEqual([]);
    });

    it('listSessions orders by highest lastSeq first, then newest createdAt', async () => {
      const user = uid('user');
      const busy = await newSession({ memberIds: [user] });
      const olderQuiet = await newSession({ memberIds: [user] });
      const newerQuiet = await newSession({ memberIds: [user] });
      const oneMessage = await newSession({ memberIds: [user] });
      await post(busy.id);
      await post(busy.id);
      await post(oneMessage.id);
      const ids = (await db().listSessions(user)).map((s) => s.id);
      expect(ids).toEqual([busy.id, oneMessage.id, newerQuiet.id, olderQuiet.id]);
    });

    it("unreadCount counts messages after lastReadSeq written by someone else (server messages too, replies too), never the user's own or deleted ones", async () => {
      const owner = uid('owner');
      const alice = uid('alice');
      const bob = uid('bob');
      const session = await newSession({ createdBy: owner, memberIds: [alice, bob] });
      const own = await post(session.id, { userId: owner }); // 1
      const fromAlice = await post(session.id, { userId: alice }); // 2
      const fromServer = await post(session.id, { userId: null, role: 'assistant', agentId: 'assistant' }); // 3
      await post(session.id, { userId: alice, parentMessageId: fromAlice.id }); // 4: a reply
      const deleted = await post(session.id, { userId: bob }); // 5
      await softDelete(deleted.id); // 6
      expect([own.seq, fromServer.seq]).toEqual([1, 3]);

      const unread = async (userId: string) => must((await db().listSessions(userId)).find((s) => s.id === session.id)).unreadCount;
      expect(await unread(owner)).toBe(3); // 2, 3, 4
      expect(await unread(alice)).toBe(2); // 1, 3
      expect(await unread(bob)).toBe(4); // 1, 2, 3, 4

      await db().setReadCursor(session.id, owner, fromServer.seq, clock());
      expect(await unread(owner)).toBe(1); // 4
      await db().setReadCursor(session.id, owner, 6, clock());
      expect(await unread(owner)).toBe(0);
    });

    it('setReadCursor moves the read cursor forward and sets lastSeenAt, never moves it back; null for a non-member', async () => {
      const session = await newSession({ memberIds: ['bob'] });
      for (let i = 0; i < 3; i++) await post(session.id);
      const seenAt = clock();
      const moved = await db().setReadCursor(session.id, 'bob', 3, seenAt);
      expect(moved).toMatchObject({ userId: 'bob', role: 'member', lastReadSeq: 3, lastDeliveredSeq: 0, lastSeenAt: seenAt.toISOString() });
      expect(await db().getMember(session.id, 'bob')).toEqual(moved);

      const back = await db().setReadCursor(session.id, 'bob', 1, clock());
      expect(back?.lastReadSeq).toBe(3);
      expect((await db().getMember(session.id, 'bob'))?.lastReadSeq).toBe(3);

      expect(await db().setReadCursor(session.id, 'stranger', 3, clock())).toBeNull();
      expect(await db().getMember(session.id, 'stranger')).toBeNull();
      expect(await db().setReadCursor(uid('missing'), 'bob', 3, clock())).toBeNull();
    });

    it('setDeliveredCursor moves the delivery cursor forward only, independently of the read cursor; a no-op for a non-member', async () => {
      const session = await newSession({ memberIds: ['bob'] });
      for (let i = 0; i < 3; i++) await post(session.id);
      await db().setDeliveredCursor(session.id, 'bob', 2);
      expect(await db().getMember(session.id, 'bob')).toMatchObject({ lastDeliveredSeq: 2, lastReadSeq: 0, lastSeenAt: null });
      await db().setDeliveredCursor(session.id, 'bob', 1);
      expect((await db().getMember(session.id, 'bob'))?.lastDeliveredSeq).toBe(2);
      await db().setDeliveredCursor(session.id, 'bob', 3);
      expect((await db().getMember(session.id, 'bob'))?.lastDeliveredSeq).toBe(3);

      await expect(db().setDeliveredCursor(session.id, 'stranger', 3)).resolves.toBeUndefined();
      expect(await db().getMember(session.id, 'stranger')).toBeNull();
      await expect(db().setDeliveredCursor(uid('missing'), 'bob', 3)).resolves.toBeUndefined();
    });

    it('returned sessions and members are copies: mutating them does not change stored state', async () => {
      const session = await newSession({ metadata: { nested: { value: 1 } }, memberIds: ['bob'] });
      const got = must(await db().getSession(session.id));
      (got.metadata as { nested: { value: number } }).nested.value = 2;
      got.title = 'mutated';
      const members = await db().listMembers(session.id);
      must(members[0]).role = 'member';
      members.length = 0;
      expect(await db().getSession(session.id)).toEqual(session);
      expect((await db().listMembers(session.id)).map((m) => [m.userId, m.role])).toEqual([
        [session.createdBy, 'owner'],
        ['bob', 'member'],
      ]);
    });
  });

  // ---- messages ---------------------------------------------------------------------------

  describe('messages', () => {
    it('insertMessages stores every field and returns the message with seq = changeSeq = 1 and createdAt = updatedAt = at', async () => {
      const session = await newSession();
      const at = clock();
      const input = draft(session.id, {
        userId: null,
        agentId: 'assistant',
        role: 'assistant',
        content: 'The answer is 42.',
        metadata: { status: 'completed', nested: { list: [1, 'two', true, null], n: -3.25 } },
        tokens: 42,
        clientMessageId: null,
        at,
      });
      const [result] = await db().insertMessages([input]);
      const expected: Message = {
        id: input.id,
        sessionId: session.id,
        userId: null,
        agentId: 'assistant',
        content: 'The answer is 42.',
        role: 'assistant',
        metadata: { status: 'completed', nested: { list: [1, 'two', true, null], n: -3.25 } },
        tokens: 42,
        parentMessageId: null,
        replyCount: 0,
        seq: 1,
        changeSeq: 1,
        clientMessageId: null,
        isEdited: false,
        editedAt: null,
        isDeleted: false,
        deletedAt: null,
        createdAt: at.toISOString(),
        updatedAt: at.toISOString(),
        attachments: [],
        reactions: [],
      };
      expect(result).toEqual({ message: expected, created: true });
      expect(await db().getMessage(input.id)).toEqual(expected);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });

      const user = await post(session.id, { userId: 'alice', clientMessageId: 'client-1', content: 'hi' });
      expect(user).toMatchObject({ userId: 'alice', agentId: null, role: 'user', clientMessageId: 'client-1', seq: 2, changeSeq: 2 });
    });

    it('a batch gets consecutive seqs in input order, results come back in input order, and numbering is gapless across batches', async () => {
      const session = await newSession();
      const first = await db().insertMessages(['a', 'b', 'c'].map((content) => draft(session.id, { content })));
      expect(first.map((r) => [r.message.content, r.message.seq, r.message.changeSeq, r.created])).toEqual([
        ['a', 1, 1, true],
        ['b', 2, 2, true],
        ['c', 3, 3, true],
      ]);
      const second = await db().insertMessages(['d', 'e'].map((content) => draft(session.id, { content })));
      expect(second.map((r) => [r.message.content, r.message.seq])).toEqual([
        ['d', 4],
        ['e', 5],
      ]);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 5, messageCount: 5 });
    });

    it('a batch may span sessions: each session numbers its own messages', async () => {
      const one = await newSession();
      const two = await newSession();
      await post(one.id);
      const results = await db().insertMessages([
        draft(one.id, { content: '1b' }),
        draft(two.id, { content: '2a' }),
        draft(one.id, { content: '1c' }),
        draft(two.id, { content: '2b' }),
        draft(two.id, { content: '2c' }),
      ]);
      expect(results.map((r) => [r.message.content, r.message.sessionId, r.message.seq])).toEqual([
        ['1b', one.id, 2],
        ['2a', two.id, 1],
        ['1c', one.id, 3],
        ['2b', two.id, 2],
        ['2c', two.id, 3],
      ]);
      expect(await sessionNow(one.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });
      expect(await sessionNow(two.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });
    });

    it('requireMembership: a member\'s send is stored; a non-member\'s rejects with FORBIDDEN and writes nothing of its batch', async () => {
      const session = await newSession({ createdBy: 'owner-m', memberIds: ['member-m'] });
      const [ok] = await db().insertMessages([draft(session.id, { userId: 'member-m', requireMembership: true, clientMessageId: 'c-ok' })]);
      expect(ok).toMatchObject({ created: true, message: { userId: 'member-m', seq: 1 } });

      // Alone, in a batch with members' sends (one statement or one transaction: nothing of it stays),
      // and even when its client id is already stored by someone else's send.
      for (const batch of [
        [draft(session.id, { userId: 'outsider', requireMembership: true })],
        [
          draft(session.id, { userId: 'member-m', requireMembership: true }),
          draft(session.id, { userId: 'outsider', requireMembership: true, attachments: [attachment()] }),
          draft(session.id, { userId: 'owner-m', requireMembership: true }),
        ],
        // One session, no attachments (Postgres: its own statement).
        [
          draft(session.id, { userId: 'member-m', requireMembership: true }),
          draft(session.id, { userId: 'outsider', requireMembership: true }),
          draft(session.id, { userId: 'owner-m', requireMembership: true }),
        ],
      ]) {
        const error = await db().insertMessages(batch).then(() => null, (e: unknown) => e);
        expect(isChatError(error) && error.code, String(error)).toBe('FORBIDDEN');
      }
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });
      expect((await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null })).messages.map((m) => m.userId)).toEqual(['member-m']);

      // A removed member is an outsider; without the flag (a trusted or already authorized write) anyone may be the author.
      expect(await db().removeMember(session.id, 'member-m')).toBe(true);
      const removed = await db().insertMessages([draft(session.id, { userId: 'member-m', requireMembership: true })]).then(() => null, (e: unknown) => e);
      expect(isChatError(removed) && removed.code).toBe('FORBIDDEN');
      const [trusted] = await db().insertMessages([draft(session.id, { userId: 'outsider' })]);
      expect(trusted).toMatchObject({ created: true, message: { seq: 2 } });

      // An unknown session is NOT_FOUND, not FORBIDDEN.
      const unknown = await db().insertMessages([draft(uid('nowhere'), { userId: 'member-m', requireMembership: true })]).then(() => null, (e: unknown) => e);
      expect(isChatError(unknown) && unknown.code).toBe('NOT_FOUND');
    });

    it("a message's attachments are stored with it (createdAt = the message's at) and take no seq of their own", async () => {
      const session = await newSession();
      const at = clock();
      const files = [attachment({ fileName: 'a.png', mimeType: 'image/png', metadata: { width: 640, height: 480 } }), attachment({ fileName: 'b.txt', mimeType: 'text/plain', fileSize: 0 })];
      const message = await post(session.id, { attachments: files, at });
      const expected = files.map((f) => ({ ...f, messageId: message.id, createdAt: at.toISOString() }));
      expect(message.attachments).toEqual(expected);
      expect((await db().getMessage(message.id))?.attachments).toEqual(expected);
      expect(await db().getAttachments(message.id)).toEqual(expected);
      expect(await db().getAttachment(must(files[1]).id)).toEqual(expected[1]);
      expect(await lastSeq(session.id)).toBe(1);
    });

    it("each top-level message raises the session's messageCount; each reply raises its parent's replyCount instead (deleted ones stay counted)", async () => {
      const session = await newSession();
      const root = await post(session.id);
      const first = await post(session.id, { parentMessageId: root.id });
      const second = await post(session.id, { parentMessageId: root.id });
      const nested = await post(session.id, { parentMessageId: first.id });
      expect(first).toMatchObject({ parentMessageId: root.id, replyCount: 0 });
      expect(nested.parentMessageId).toBe(first.id);

      expect((await db().getMessage(root.id))?.replyCount).toBe(2);
      expect((await db().getMessage(first.id))?.replyCount).toBe(1);
      expect((await db().getMessage(second.id))?.replyCount).toBe(0);
      expect(await sessionNow(session.id)).toMatchObject({ messageCount: 1, lastSeq: 4 });

      await softDelete(second.id);
      await softDelete(root.id);
      expect((await db().getMessage(root.id))?.replyCount).toBe(2);
      expect((await sessionNow(session.id)).messageCount).toBe(1);
    });

    it('a clientMessageId already stored for the same session and user returns the stored message with created: false and writes nothing', async () => {
      const session = await newSession();
      const first = await post(session.id, { userId: 'alice', clientMessageId: 'retry-me', content: 'first', attachments: [attachment()] });
      const parent = await post(session.id);
      const before = await sessionNow(session.id);

      const retry = draft(session.id, {
        userId: 'alice',
        clientMessageId: 'retry-me',
        content: 'second',
        parentMessageId: parent.id,
        attachments: [attachment()],
      });
      const [result] = await db().insertMessages([retry]);
      expect(result).toEqual({ message: await db().getMessage(first.id), created: false });
      expect(result?.message.content).toBe('first');
      expect(await sessionNow(session.id)).toEqual(before);
      expect(await db().getMessage(retry.id)).toBeNull();
      expect(await db().getAttachment(must(retry.attachments[0]).id)).toBeNull();
      expect((await db().getMessage(parent.id))?.replyCount).toBe(0);
    });

    it('the same clientMessageId twice inside one batch stores one message; the second result is the first message with created: false', async () => {
      const session = await newSession();
      const a = draft(session.id, { userId: 'alice', clientMessageId: 'dup', content: 'one' });
      const b = draft(session.id, { userId: 'alice', clientMessageId: 'dup', content: 'two' });
      const c = draft(session.id, { userId: 'alice', clientMessageId: 'other', content: 'three' });
      const results = await db().insertMessages([a, b, c]);
      expect(results.map((r) => [r.message.id, r.created, r.message.seq])).toEqual([
        [a.id, true, 1],
        [a.id, false, 1],
        [c.id, true, 2],
      ]);
      expect(results[1]?.message.content).toBe('one');
      expect(await db().getMessage(b.id)).toBeNull();
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 2, messageCount: 2 });
    });

    it('the same clientMessageId from a different user or in a different session is a different message', async () => {
      const one = await newSession();
      const two = await newSession();
      const results = await db().insertMessages([
        draft(one.id, { userId: 'alice', clientMessageId: 'same' }),
        draft(one.id, { userId: 'bob', clientMessageId: 'same' }),
        draft(two.id, { userId: 'alice', clientMessageId: 'same' }),
      ]);
      expect(results.map((r) => r.created)).toEqual([true, true, true]);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(3);
      expect(await lastSeq(one.id)).toBe(2);
      expect(await lastSeq(two.id)).toBe(1);
    });

    it('messages without a clientMessageId are never de-duplicated', async () => {
      const session = await newSession();
      const results = await db().insertMessages([
        draft(session.id, { userId: 'alice', content: 'same' }),
        draft(session.id, { userId: 'alice', content: 'same' }),
      ]);
      expect(results.map((r) => [r.created, r.message.seq])).toEqual([
        [true, 1],
        [true, 2],
      ]);
    });

    it('a batch that fails part-way (an id already taken) writes nothing at all', async () => {
      const session = await newSession();
      const existing = await post(session.id, { content: 'existing' });
      const fresh = draft(session.id, { content: 'fresh', attachments: [attachment()] });
      const clash = draft(session.id, { id: existing.id, content: 'clash' });
      await expect(db().insertMessages([fresh, clash])).rejects.toBeDefined();
      expect(await db().getMessage(fresh.id)).toBeNull();
      expect(await db().getAttachment(must(fresh.attachments[0]).id)).toBeNull();
      expect(await db().getMessage(existing.id)).toEqual(existing);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });
      // The counter is intact: the next message still gets the next number.
      expect((await post(session.id)).seq).toBe(2);
    });

    it('getMessage returns null for an unknown id', async () => {
      expect(await db().getMessage(newId())).toBeNull();
    });

    it('updateMessage with bumpSeq: true applies the patch and gives the change the next seq (changeSeq); seq and createdAt stay', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'original', metadata: { keep: true }, tokens: 3 });
      await post(session.id);
      const at = clock();
      const updated = await db().updateMessage(message.id, { content: 'edited', isEdited: true, editedAt: at, at }, { bumpSeq: true });
      expect(updated).toEqual({
        ...message,
        content: 'edited',
        isEdited: true,
        editedAt: at.toISOString(),
        updatedAt: at.toISOString(),
        changeSeq: 3,
      });
      expect(await db().getMessage(message.id)).toEqual(updated);
      expect(await lastSeq(session.id)).toBe(3);
    });

    it('updateMessage with bumpSeq: false applies the patch without touching changeSeq or lastSeq (an LLM flush)', async () => {
      const session = await newSession();
      const answer = await post(session.id, { userId: null, role: 'assistant', content: '', metadata: { status: 'streaming' } });
      const at = clock();
      const flushed = await db().updateMessage(answer.id, { content: 'partial answer', tokens: 7, at }, { bumpSeq: false });
      expect(flushed).toEqual({ ...answer, content: 'partial answer', tokens: 7, updatedAt: at.toISOString() });
      expect(await lastSeq(session.id)).toBe(1);

      const done = await db().updateMessage(answer.id, { content: 'full answer', metadata: { status: 'completed' }, at: clock() }, { bumpSeq: true });
      expect(done).toMatchObject({ content: 'full answer', metadata: { status: 'completed' }, tokens: 7, seq: 1, changeSeq: 2 });
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('updateMessage changes only the fields present in the patch (metadata is replaced, not merged; null clears it)', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'text', metadata: { a: 1, b: 2 }, tokens: 5 });
      const onlyTokens = await db().updateMessage(message.id, { tokens: 9, at: clock() }, { bumpSeq: false });
      expect(onlyTokens).toMatchObject({ content: 'text', metadata: { a: 1, b: 2 }, tokens: 9, isEdited: false, isDeleted: false });
      const replaced = await db().updateMessage(message.id, { metadata: { c: 3 }, at: clock() }, { bumpSeq: false });
      expect(replaced?.metadata).toEqual({ c: 3 });
      const cleared = await db().updateMessage(message.id, { metadata: null, tokens: null, at: clock() }, { bumpSeq: false });
      expect(cleared).toMatchObject({ content: 'text', metadata: null, tokens: null });
    });

    it('updateMessage returns null for an unknown message', async () => {
      expect(await db().updateMessage(newId(), { content: 'x', at: clock() }, { bumpSeq: true })).toBeNull();
    });

    it('soft delete (content "", isDeleted, deletedAt) is stored, takes a seq, and keeps the counters', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'regrettable' });
      const at = clock();
      const deleted = await db().updateMessage(message.id, { content: '', isDeleted: true, deletedAt: at, at }, { bumpSeq: true });
      expect(deleted).toEqual({ ...message, content: '', isDeleted: true, deletedAt: at.toISOString(), updatedAt: at.toISOString(), changeSeq: 2 });
      expect(await db().getMessage(message.id)).toEqual(deleted);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 2, messageCount: 1 });
    });

    it('a message marked isDeleted is returned with content "" everywhere and never matches a search, even if the patch kept its text', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'forgotten secret' });
      const at = clock();
      const deleted = await db().updateMessage(message.id, { isDeleted: true, deletedAt: at, at }, { bumpSeq: true });
      expect(deleted).toMatchObject({ content: '', isDeleted: true, deletedAt: at.toISOString() });
      expect((await db().getMessage(message.id))?.content).toBe('');
      expect((await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null })).messages[0]?.content).toBe('');
      expect((await db().getChangesSince(session.id, 0, 10))[0]?.content).toBe('');
      expect(await db().searchMessages(session.id, ['secret'], { limit: 10, offset: 0, maxCount: 1000 })).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('returned messages are copies: mutating a returned message (or the input) does not change stored state', async () => {
      const session = await newSession();
      const input = draft(session.id, { metadata: { nested: { value: 1 } }, attachments: [attachment({ metadata: { k: 'v' } })] });
      const [result] = await db().insertMessages([input]);
      await react(input.id, 'alice', '👍', 'add');
      const stored = must(await db().getMessage(input.id));

      (input.metadata as { nested: { value: number } }).nested.value = 99;
      const returned = must(result).message;
      returned.content = 'mutated';
      (returned.metadata as { nested: { value: number } }).nested.value = 2;
      must(returned.attachments[0]).fileName = 'mutated';

      const got = must(await db().getMessage(input.id));
      got.content = 'mutated';
      (got.metadata as { nested: { value: number } }).nested.value = 3;
      must(got.attachments[0]).fileName = 'mutated';
      (must(got.attachments[0]).metadata as { k: string }).k = 'mutated';
      must(got.reactions[0]).userIds.push('mallory');
      must(got.reactions[0]).count = 7;
      got.attachments.length = 0;
      got.reactions.length = 0;

      const page = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null });
      must(page.messages[0]).content = 'mutated';
      const reactions = await db().getReactions(input.id);
      must(reactions[0]).userIds.length = 0;

      expect(await db().getMessage(input.id)).toEqual(stored);
      expect(stored.metadata).toEqual({ nested: { value: 1 } });
      expect(stored.content).toBe('hello');
    });
  });

  // ---- history ----------------------------------------------------------------------------

  /**
   * Top-level T1..T6 with replies and a reaction interleaved, so top-level seqs have gaps:
   * T1=1 T2=2 R1=3(re T2) T3=4 (reaction on T1 = 5) T4=6 R2=7(re T2) R1a=8(re R1) T5=9 T6=10.
   */
  const historyFixture = async () => {
    const session = await newSession();
    const t1 = await post(session.id, { content: 'T1' });
    const t2 = await post(session.id, { content: 'T2' });
    const r1 = await post(session.id, { content: 'R1', parentMessageId: t2.id });
    const t3 = await post(session.id, { content: 'T3', attachments: [attachment({ fileName: 't3.png' })] });
    await react(t1.id, 'alice', '👍', 'add');
    const t4 = await post(session.id, { content: 'T4' });
    const r2 = await post(session.id, { content: 'R2', parentMessageId: t2.id });
    const r1a = await post(session.id, { content: 'R1a', parentMessageId: r1.id });
    const t5 = await post(session.id, { content: 'T5' });
    const t6 = await post(session.id, { content: 'T6' });
    expect([t1, t2, r1, t3, t4, r2, r1a, t5, t6].map((m) => m.seq)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);
    return { session, t1, t2, t3, t4, t5, t6, r1, r2, r1a };
  };
  const contents = (page: MessagePage): string[] => page.messages.map((m) => m.content);

  describe('history', () => {
    it('without cursors: top-level messages only, ascending seq, the latest `limit`, total = messageCount', async () => {
      const { session } = await historyFixture();
      const page = await db().getHistory(session.id, { limit: 3, offset: 0, parentMessageId: null });
      expect(contents(page)).toEqual(['T4', 'T5', 'T6']);
      expect(page.messages.map((m) => m.seq)).toEqual([6, 9, 10]);
      expect(page.total).toBe(6);
      const all = await db().getHistory(session.id, { limit: 100, offset: 0, parentMessageId: null });
      expect(contents(all)).toEqual(['T1', 'T2', 'T3', 'T4', 'T5', 'T6']);
      expect(all.total).toBe(6);
    });

    it('offset counts from the newest; an offset at or beyond the end gives no messages and the same total', async () => {
      const { session } = await historyFixture();
      const page = (limit: number, offset: number) => db().getHistory(session.id, { limit, offset, parentMessageId: null });
      expect(contents(await page(2, 2))).toEqual(['T3', 'T4']);
      expect(contents(await page(3, 4))).toEqual(['T1', 'T2']);
      expect(contents(await page(1, 5))).toEqual(['T1']);
      expect(await page(3, 6)).toEqual({ messages: [], total: 6 });
      expect(await page(3, 100)).toEqual({ messages: [], total: 6 });
    });

    it("parentMessageId selects that message's direct replies only (not nested ones), total = its replyCount", async () => {
      const { session, t1, t2, r1 } = await historyFixture();
      const thread = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id });
      expect(contents(thread)).toEqual(['R1', 'R2']);
      expect(thread.total).toBe(2);
      expect(contents(await db().getHistory(session.id, { limit: 1, offset: 0, parentMessageId: t2.id }))).toEqual(['R2']);
      expect(contents(await db().getHistory(session.id, { limit: 1, offset: 1, parentMessageId: t2.id }))).toEqual(['R1']);
      const nested = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: r1.id });
      expect(contents(nested)).toEqual(['R1a']);
      expect(nested.total).toBe(1);
      expect(await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t1.id })).toEqual({ messages: [], total: 0 });
      expect(await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: newId() })).toEqual({ messages: [], total: 0 });
    });

    it('before keeps seq < before: the latest `limit` of those after skipping `offset` from the newest; total ignores the cursor', async () => {
      const { session, t4 } = await historyFixture();
      const page = (before: number, limit: number, offset = 0) => db().getHistory(session.id, { limit, offset, parentMessageId: null, before });
      const p = await page(t4.seq, 2);
      expect(contents(p)).toEqual(['T2', 'T3']);
      expect(p.total).toBe(6);
      expect(contents(await page(t4.seq, 2, 1))).toEqual(['T1', 'T2']);
      expect(contents(await page(7, 10))).toEqual(['T1', 'T2', 'T3', 'T4']); // 7 is a reply's seq
      expect(contents(await page(1000, 2))).toEqual(['T5', 'T6']);
      expect(await page(1, 10)).toEqual({ messages: [], total: 6 });
      expect(await page(t4.seq, 10, 3)).toEqual({ messages: [], total: 6 });
    });

    it('after keeps seq > after: the first `limit` of those after skipping `offset` from the oldest; total ignores the cursor', async () => {
      const { session, t2 } = await historyFixture();
      const page = (after: number, limit: number, offset = 0) => db().getHistory(session.id, { limit, offset, parentMessageId: null, after });
      const p = await page(t2.seq, 2);
      expect(contents(p)).toEqual(['T3', 'T4']);
      expect(p.total).toBe(6);
      expect(contents(await page(t2.seq, 2, 1))).toEqual(['T4', 'T5']);
      expect(contents(await page(0, 2))).toEqual(['T1', 'T2']);
      expect(contents(await page(3, 10))).toEqual(['T3', 'T4', 'T5', 'T6']); // 3 is a reply's seq
      expect(await page(10, 5)).toEqual({ messages: [], total: 6 }); // after = lastSeq
      expect(await page(t2.seq, 5, 4)).toEqual({ messages: [], total: 6 });
    });

    it('after and before together keep after < seq < before, paged forward from after; total ignores the cursors', async () => {
      const { session, t1, t2, t5, t6 } = await historyFixture();
      const page = (after: number, before: number, limit: number, offset = 0) =>
        db().getHistory(session.id, { limit, offset, parentMessageId: null, after, before });
      const p = await page(t1.seq, t6.seq, 2);
      expect(contents(p)).toEqual(['T2', 'T3']);
      expect(p.total).toBe(6);
      expect(contents(await page(t1.seq, t6.seq, 2, 2))).toEqual(['T4', 'T5']);
      expect(contents(await page(t1.seq, t6.seq, 10, 3))).toEqual(['T5']);
      expect(contents(await page(t1.seq, t5.seq, 10))).toEqual(['T2', 'T3', 'T4']);
      expect(contents(await page(0, 1000, 10))).toEqual(['T1', 'T2', 'T3', 'T4', 'T5', 'T6']);
      expect(await page(t1.seq, t2.seq, 10)).toEqual({ messages: [], total: 6 }); // nothing strictly between
      expect(await page(t5.seq, t2.seq, 10)).toEqual({ messages: [], total: 6 }); // an empty range
    });

    it('cursors work inside a thread too', async () => {
      const { session, t2, r1, r2 } = await historyFixture();
      const after = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id, after: r1.seq });
      expect(after).toEqual({ messages: [must(await db().getMessage(r2.id))], total: 2 });
      const before = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id, before: r2.seq });
      expect(contents(before)).toEqual(['R1']);
      const between = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id, after: 0, before: r2.seq + 1 });
      expect(contents(between)).toEqual(['R1', 'R2']);
      expect(between.total).toBe(2);
    });

    it('page messages carry their reactions and attachments, equal to getMessage', async () => {
      const { session, t1, t3 } = await historyFixture();
      const page = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null });
      const byId = new Map(page.messages.map((m) => [m.id, m]));
      expect(byId.get(t1.id)?.reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
      expect(byId.get(t3.id)?.attachments.map((a) => a.fileName)).toEqual(['t3.png']);
      for (const message of page.messages) expect(message).toEqual(await db().getMessage(message.id));
      expect(page.messages.filter((m) => m.reactions.length > 0 || m.attachments.length > 0).map((m) => m.content)).toEqual(['T1', 'T3']);
    });

    it('deleted messages stay in history with content "" and isDeleted: true', async () => {
      const { session, t5 } = await historyFixture();
      await softDelete(t5.id);
      const page = await db().getHistory(session.id, { limit: 2, offset: 0, parentMessageId: null });
      expect(page.messages.map((m) => [m.content, m.isDeleted])).toEqual([
        ['', true],
        ['T6', false],
      ]);
      expect(page.total).toBe(6);
    });

    it('an unknown session has an empty history', async () => {
      expect(await db().getHistory(uid('missing'), { limit: 10, offset: 0, parentMessageId: null })).toEqual({ messages: [], total: 0 });
    });

    it('authorize: a member reads the page; a non-member gets FORBIDDEN, an unknown session NOT_FOUND; memberId null checks existence only', async () => {
      const session = await newSession({ createdBy: 'owner-h', memberIds: ['reader-h'] });
      await post(session.id, { content: 'one' });
      await post(session.id, { content: 'two' });
      const page = (memberId: string | null, sessionId = session.id) =>
        db().getHistory(sessionId, { limit: 10, offset: 0, parentMessageId: null, authorize: { memberId } });
      const asMember = await page('reader-h');
      expect(contents(asMember)).toEqual(['one', 'two']);
      expect(asMember.total).toBe(2);
      expect(await page('owner-h')).toEqual(asMember);
      expect(await page(null)).toEqual(asMember);
      await expectCode(page('outsider-h'), 'FORBIDDEN');
      await expectCode(page('reader-h', uid('missing')), 'NOT_FOUND');
      await expectCode(page(null, uid('missing')), 'NOT_FOUND');
      // An empty session still answers (no messages is not "no session"), and a removed member is an outsider.
      const empty = await newSession({ createdBy: 'owner-h', memberIds: ['reader-h'] });
      expect(await page('reader-h', empty.id)).toEqual({ messages: [], total: 0 });
      await db().removeMember(session.id, 'reader-h');
      const removed = await page('reader-h').then(() => null, (e: unknown) => e);
      expect(isChatError(removed) && removed.code).toBe('FORBIDDEN');
    });
  });

  // ---- search -----------------------------------------------------------------------------

  describe('search', () => {
    const search = (sessionId: string, terms: string[], limit = 50, offset = 0) => db().searchMessages(sessionId, terms, { limit, offset, maxCount: 1000 });

    it('matches whole words, case-insensitively (hello matches "Hello world", hell does not)', async () => {
      const session = await newSession();
      await post(session.id, { content: 'Hello world' });
      await post(session.id, { content: 'HELLO there' });
      await post(session.id, { content: 'say hello!' });
      await post(session.id, { content: 'hellothere and shell' });
      await post(session.id, { content: 'nothing to see' });
      const hello = await search(session.id, ['hello']);
      expect(contents(hello)).toEqual(['say hello!', 'HELLO there', 'Hello world']);
      expect(hello.total).toBe(3);
      expect(await search(session.id, ['hell'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(contents(await search(session.id, ['world']))).toEqual(['Hello world']);
    });

    it('a message matches only when it contains every term, in any order', async () => {
      const session = await newSession();
      await post(session.id, { content: 'the quick brown fox' });
      await post(session.id, { content: 'a brown dog' });
      await post(session.id, { content: 'fox, quick!' });
      expect(contents(await search(session.id, ['quick', 'fox']))).toEqual(['fox, quick!', 'the quick brown fox']);
      expect(contents(await search(session.id, ['fox', 'brown']))).toEqual(['the quick brown fox']);
      expect(await search(session.id, ['fox', 'cat'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('words are runs of letters and digits: punctuation, hyphens, apostrophes and underscores separate words', async () => {
      const session = await newSession();
      await post(session.id, { content: 'a well-known fact' });
      await post(session.id, { content: "it's room 101 (east wing)" });
      await post(session.id, { content: 'snake_case,comma;semicolon' });
      await post(session.id, { content: 'abc123 is one word' });
      expect(contents(await search(session.id, ['known']))).toEqual(['a well-known fact']);
      expect(contents(await search(session.id, ['101', 'east']))).toEqual(["it's room 101 (east wing)"]);
      expect(contents(await search(session.id, ['wing']))).toEqual(["it's room 101 (east wing)"]);
      expect(contents(await search(session.id, ['case', 'semicolon']))).toEqual(['snake_case,comma;semicolon']);
      expect(contents(await search(session.id, ['abc123']))).toEqual(['abc123 is one word']);
      expect(await search(session.id, ['123'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('non-ASCII words match case-insensitively; accents are significant (no stemming, no folding)', async () => {
      const session = await newSession();
      await post(session.id, { content: 'Über den Wolken' });
      await post(session.id, { content: 'un café noir' });
      expect(contents(await search(session.id, ['über']))).toEqual(['Über den Wolken']);
      expect(contents(await search(session.id, ['café']))).toEqual(['un café noir']);
      expect(await search(session.id, ['cafe'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(await search(session.id, ['uber'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('returns newest first with total counting every match; offset and limit page through them', async () => {
      const session = await newSession();
      for (let i = 1; i <= 5; i++) {
        await post(session.id, { content: `match number ${i}` });
        await post(session.id, { content: `filler ${i}` });
      }
      const page = (limit: number, offset: number) => search(session.id, ['match'], limit, offset);
      const first = await page(2, 0);
      expect(contents(first)).toEqual(['match number 5', 'match number 4']);
      expect(first.total).toBe(5);
      expect(contents(await page(2, 2))).toEqual(['match number 3', 'match number 2']);
      expect(contents(await page(2, 4))).toEqual(['match number 1']);
      expect(await page(2, 10)).toEqual({ messages: [], total: 5, totalExact: true });
    });

    it('authorize: a member searches; a non-member gets FORBIDDEN, an unknown session NOT_FOUND; memberId null checks existence only', async () => {
      const session = await newSession({ createdBy: 'owner-s', memberIds: ['reader-s'] });
      await post(session.id, { content: 'needle in a haystack' });
      const find = (memberId: string | null, sessionId = session.id) =>
        db().searchMessages(sessionId, ['needle'], { limit: 10, offset: 0, maxCount: 1000, authorize: { memberId } });
      expect(contents(await find('reader-s'))).toEqual(['needle in a haystack']);
      expect(await find(null)).toMatchObject({ total: 1, totalExact: true });
      await expectCode(find('outsider-s'), 'FORBIDDEN');
      await expectCode(find('reader-s', uid('missing')), 'NOT_FOUND');
      await expectCode(find(null, uid('missing')), 'NOT_FOUND');
      // Also when there is nothing to search for.
      const none = (memberId: string | null, sessionId = session.id) =>
        db().searchMessages(sessionId, [], { limit: 10, offset: 0, maxCount: 1000, authorize: { memberId } });
      expect(await none('reader-s')).toEqual({ messages: [], total: 0, totalExact: true });
      await expectCode(none('outsider-s'), 'FORBIDDEN');
      await expectCode(none(null, uid('missing')), 'NOT_FOUND');
    });

    it('counts at most maxCount matches (totalExact: false past it); pages beyond the count are still served', async () => {
      const session = await newSession();
      const messages = await db().insertMessages(Array.from({ length: 7 }, (_, i) => draft(session.id, { content: `common word ${i + 1}` })));
      expect(messages.every((m) => m.created)).toBe(true);
      const capped = (limit: number, offset: number, maxCount: number) => db().searchMessages(session.id, ['common'], { limit, offset, maxCount });
      expect(await capped(2, 0, 3)).toMatchObject({ total: 3, totalExact: false });
      expect(contents(await capped(2, 0, 3))).toEqual(['common word 7', 'common word 6']);
      expect(contents(await capped(2, 4, 3))).toEqual(['common word 3', 'common word 2']); // past the counted 3
      expect(await capped(2, 8, 3)).toMatchObject({ messages: [], totalExact: false });
      expect(await capped(2, 0, 7)).toMatchObject({ total: 7, totalExact: true }); // exactly maxCount: exact
      expect(await capped(2, 0, 100)).toMatchObject({ total: 7, totalExact: true });
      expect(await capped(2, 0, 0)).toMatchObject({ total: 0, totalExact: false });
    });

    it('replies are searched too, and results carry reactions and attachments', async () => {
      const session = await newSession();
      const root = await post(session.id, { content: 'parent topic', attachments: [attachment()] });
      await post(session.id, { content: 'a reply about the topic', parentMessageId: root.id });
      await react(root.id, 'bob', '🎉', 'add');
      const found = await search(session.id, ['topic']);
      expect(contents(found)).toEqual(['a reply about the topic', 'parent topic']);
      expect(found.messages[1]).toEqual(await db().getMessage(root.id));
    });

    it('deleted messages never match', async () => {
      const session = await newSession();
      const doomed = await post(session.id, { content: 'secret plan' });
      await post(session.id, { content: 'public plan' });
      await softDelete(doomed.id);
      expect(contents(await search(session.id, ['plan']))).toEqual(['public plan']);
      expect(await search(session.id, ['secret'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('messages of other sessions never match', async () => {
      const mine = await newSession();
      const other = await newSession();
      await post(other.id, { content: 'pineapple' });
      expect(await search(mine.id, ['pineapple'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(await search(uid('missing'), ['pineapple'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect((await search(other.id, ['pineapple'])).total).toBe(1);
    });

    it('an edited message matches its new text and no longer its old text (also after a bumpSeq: false flush)', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'original wording' });
      const at = clock();
      await db().updateMessage(message.id, { content: 'revised wording', isEdited: true, editedAt: at, at }, { bumpSeq: true });
      expect(await search(session.id, ['original'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(contents(await search(session.id, ['revised']))).toEqual(['revised wording']);
      await db().updateMessage(message.id, { content: 'streamed wording', at: clock() }, { bumpSeq: false });
      expect(await search(session.id, ['revised'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(contents(await search(session.id, ['streamed', 'wording']))).toEqual(['streamed wording']);
    });
  });

  // ---- changes since ----------------------------------------------------------------------

  describe('getChangesSince', () => {
    it('returns the messages created, edited, deleted, reacted or attached after the cursor, in changeSeq order, each once in its current state', async () => {
      const session = await newSession();
      const a = await post(session.id, { content: 'A' }); // 1
      const b = await post(session.id, { content: 'B' }); // 2
      const c = await post(session.id, { content: 'C' }); // 3
      const d = await post(session.id, { content: 'D' }); // 4
      const cursor = await lastSeq(session.id);
      const at = clock();
      await db().updateMessage(b.id, { content: 'B2', isEdited: true, editedAt: at, at }, { bumpSeq: true }); // 5
      await react(a.id, 'alice', '👍', 'add'); // 6
      await softDelete(c.id); // 7
      const e = await post(session.id, { content: 'E', parentMessageId: d.id }); // 8
      await db().addAttachments(d.id, [attachment()], clock()); // 9
      await react(b.id, 'bob', '🎉', 'add'); // 10: B's latest change
      await db().updateMessage(a.id, { metadata: { flushed: true }, at: clock() }, { bumpSeq: false }); // no seq

      const changes = await db().getChangesSince(session.id, cursor, 100);
      expect(changes.map((m) => [m.content, m.changeSeq])).toEqual([
        ['A', 6],
        ['', 7],
        ['E', 8],
        ['D', 9],
        ['B2', 10],
      ]);
      expect(changes.map((m) => m.id)).toEqual([a.id, c.id, e.id, d.id, b.id]);
      for (const message of changes) expect(message).toEqual(await db().getMessage(message.id));
      expect(changes[0]?.reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
      expect(changes[0]?.metadata).toEqual({ flushed: true });
      expect(changes[1]?.isDeleted).toBe(true);
      expect(changes[3]?.attachments).toHaveLength(1);
    });

    it('respects the cursor and the limit', async () => {
      const session = await newSession();
      for (let i = 1; i <= 6; i++) await post(session.id, { content: `m${i}` });
      const seqs = async (after: number, limit: number) => (await db().getChangesSince(session.id, after, limit)).map((m) => m.changeSeq);
      expect(await seqs(0, 100)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await seqs(0, 2)).toEqual([1, 2]);
      expect(await seqs(3, 2)).toEqual([4, 5]);
      expect(await seqs(5, 10)).toEqual([6]);
      expect(await seqs(6, 10)).toEqual([]);
      expect(await db().getChangesSince(uid('missing'), 0, 10)).toEqual([]);
    });
  });

  // ---- reactions --------------------------------------------------------------------------

  describe('reactions', () => {
    it('add stores the reaction (added and changed true), takes the next seq, and returns the message with changeSeq = that seq', async () => {
      const session = await newSession();
      const message = await post(session.id);
      const result = await react(message.id, 'alice', '👍', 'add');
      expect(result?.added).toBe(true);
      expect(result?.changed).toBe(true);
      expect(result?.reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
      // Whether a reaction touches updatedAt is the adapter's choice; everything else must be as before.
      expect(result?.message).toEqual({ ...message, changeSeq: 2, reactions: result?.reactions, updatedAt: expect.any(String) });
      expect(await lastSeq(session.id)).toBe(2);
      expect(await db().getReactions(message.id)).toEqual(result?.reactions);
      expect((await db().getMessage(message.id))?.reactions).toEqual(result?.reactions);
    });

    it('add of an existing reaction changes nothing (added true, changed false, no seq): unique per message + user + emoji', async () => {
      const session = await newSession();
      const message = await post(session.id);
      await react(message.id, 'alice', '👍', 'add');
      const again = await react(message.id, 'alice', '👍', 'add');
      expect(again).toMatchObject({ added: true, changed: false, reactions: [{ emoji: '👍', count: 1, userIds: ['alice'] }] });
      expect(again?.message.changeSeq).toBe(2);
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('remove deletes an existing reaction (added false, changed true, next seq); removing a missing one changes nothing', async () => {
      const session = await newSession();
      const message = await post(session.id);
      await react(message.id, 'alice', '👍', 'add');
      const removed = await react(message.id, 'alice', '👍', 'remove');
      expect(removed).toMatchObject({ added: false, changed: true, reactions: [] });
      expect(removed?.message.changeSeq).toBe(3);
      expect(await lastSeq(session.id)).toBe(3);
      const missing = await react(message.id, 'alice', '👍', 'remove');
      expect(missing).toMatchObject({ added: false, changed: false, reactions: [] });
      expect(await lastSeq(session.id)).toBe(3);
      expect(await db().getReactions(message.id)).toEqual([]);
    });

    it('toggle adds when absent and removes when present, each a change with its own seq', async () => {
      const session = await newSession();
      const message = await post(session.id);
      const on = await react(message.id, 'alice', '🎉', 'toggle');
      expect(on).toMatchObject({ added: true, changed: true, reactions: [{ emoji: '🎉', count: 1, userIds: ['alice'] }] });
      expect(on?.message.changeSeq).toBe(2);
      const off = await react(message.id, 'alice', '🎉', 'toggle');
      expect(off).toMatchObject({ added: false, changed: true, reactions: [] });
      expect(off?.message.changeSeq).toBe(3);
      const onAgain = await react(message.id, 'alice', '🎉', 'toggle');
      expect(onAgain?.added).toBe(true);
      expect(await lastSeq(session.id)).toBe(4);
    });

    it('groups reactions by emoji with count and userIds in the order the reactions were made; an emoji nobody uses disappears', async () => {
      const session = await newSession();
      const message = await post(session.id);
      await react(message.id, 'alice', '👍', 'add');
      await react(message.id, 'bob', '❤️', 'add');
      await react(message.id, 'carol', '👍', 'add');
      await react(message.id, 'alice', '❤️', 'add');
      const last = await react(message.id, 'bob', '👍', 'add');
      const expected: Reaction[] = [
        { emoji: '👍', count: 3, userIds: ['alice', 'carol', 'bob'] },
        { emoji: '❤️', count: 2, userIds: ['bob', 'alice'] },
      ];
      expect(byEmoji(must(last).reactions)).toEqual(byEmoji(expected));
      expect(byEmoji(await db().getReactions(message.id))).toEqual(byEmoji(expected));
      expect(byEmoji(must(await db().getMessage(message.id)).reactions)).toEqual(byEmoji(expected));

      await react(message.id, 'bob', '❤️', 'remove');
      const final = await react(message.id, 'alice', '❤️', 'remove');
      expect(final?.reactions).toEqual([{ emoji: '👍', count: 3, userIds: ['alice', 'carol', 'bob'] }]);
      expect(await lastSeq(session.id)).toBe(1 + 5 + 2);
    });

    it('reactions of one message do not leak onto another', async () => {
      const session = await newSession();
      const one = await post(session.id);
      const two = await post(session.id);
      await react(one.id, 'alice', '👍', 'add');
      expect(await db().getReactions(two.id)).toEqual([]);
      expect((await db().getMessage(two.id))?.reactions).toEqual([]);
      const other = await react(two.id, 'alice', '👍', 'add');
      expect(other).toMatchObject({ added: true, changed: true });
      expect(await db().getReactions(one.id)).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
    });

    it('emoji strings round-trip exactly (variation selectors, ZWJ sequences, skin tones, :shortcodes:)', async () => {
      const session = await newSession();
      const message = await post(session.id);
      const emojis = ['❤️', '❤', '👨‍👩‍👧‍👦', '👍🏽', '🏳️‍🌈', ':tada:'];
      for (const emoji of emojis) await react(message.id, 'alice', emoji, 'add');
      const stored = await db().getReactions(message.id);
      expect(stored.map((r) => r.emoji).sort()).toEqual([...emojis].sort());
      expect(stored.every((r) => r.count === 1)).toBe(true);
    });

    it('setReaction returns null for an unknown message; getReactions returns []', async () => {
      expect(await react(newId(), 'alice', '👍', 'add')).toBeNull();
      expect(await react(newId(), 'alice', '👍', 'toggle')).toBeNull();
      expect(await db().getReactions(newId())).toEqual([]);
    });
  });

  // ---- attachments ------------------------------------------------------------------------

  describe('attachments', () => {
    it('addAttachments stores a batch on an existing message as one change (one seq) and returns them with the updated message', async () => {
      const session = await newSession();
      const existing = attachment({ fileName: 'first.png' });
      const message = await post(session.id, { attachments: [existing] });
      const at = clock();
      const files = [attachment({ fileName: 'second.txt', metadata: { pages: 2 } }), attachment({ fileName: 'third.csv' })];
      const result = must(await db().addAttachments(message.id, files, at));
      const added = files.map((f) => ({ ...f, messageId: message.id, createdAt: at.toISOString() }));
      expect(result.attachments).toEqual(added);
      expect(result.message.changeSeq).toBe(2);
      expect(result.message.seq).toBe(1);
      expect(result.message.attachments.map((a) => a.fileName)).toEqual(['first.png', 'second.txt', 'third.csv']);
      expect(await lastSeq(session.id)).toBe(2);
      expect(await db().getAttachments(message.id)).toEqual(result.message.attachments);
      expect((await db().getMessage(message.id))?.attachments).toEqual(result.message.attachments);
    });

    it('getAttachment and getAttachments read what was stored; null and [] for unknown ids', async () => {
      const session = await newSession();
      const file = attachment({ fileName: 'notes.md', mimeType: 'text/markdown', fileSize: 42, metadata: { source: 'upload' } });
      const message = await post(session.id, { attachments: [file] });
      expect(await db().getAttachment(file.id)).toEqual({ ...file, messageId: message.id, createdAt: message.createdAt });
      expect(await db().getAttachments(message.id)).toHaveLength(1);
      expect(await db().getAttachment(newId())).toBeNull();
      expect(await db().getAttachments(newId())).toEqual([]);
    });

    it('deleteAttachment removes one attachment as a change to its message (one seq); deleting it again returns null', async () => {
      const session = await newSession();
      const keep = attachment({ fileName: 'keep.png' });
      const drop = attachment({ fileName: 'drop.png' });
      const message = await post(session.id, { attachments: [keep, drop] });
      const result = must(await db().deleteAttachment(drop.id, clock()));
      expect(result.attachment).toEqual({ ...drop, messageId: message.id, createdAt: message.createdAt });
      expect(result.message.attachments.map((a) => a.id)).toEqual([keep.id]);
      expect(result.message.changeSeq).toBe(2);
      expect(await lastSeq(session.id)).toBe(2);
      expect(await db().getAttachment(drop.id)).toBeNull();
      expect((await db().getAttachments(message.id)).map((a) => a.id)).toEqual([keep.id]);
      expect(await db().deleteAttachment(drop.id, clock())).toBeNull();
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('addAttachments and deleteAttachment return null for unknown ids', async () => {
      expect(await db().addAttachments(newId(), [attachment()], clock())).toBeNull();
      expect(await db().deleteAttachment(newId(), clock())).toBeNull();
    });
  });

  // ---- LLM streams ------------------------------------------------------------------------

  describe('streams', () => {
    it("createStream stores the prompt and the answer (consecutive seqs, as insertMessages would) and the row with status 'pending'", async () => {
      const session = await newSession();
      await post(session.id);
      const input = streamStart(session.id);
      const [question, answer] = input.messages as [NewMessage, NewMessage];
      const at = input.stream.at.toISOString();
      const result = await db().createStream(input);

      expect(result.messages.map((r) => [r.message.id, r.message.seq, r.message.changeSeq, r.created])).toEqual([
        [question.id, 2, 2, true],
        [answer.id, 3, 3, true],
      ]);
      expect(result.messages[0]?.message).toMatchObject({ userId: 'asker', role: 'user', content: 'What is the answer?', createdAt: at });
      expect(result.messages[1]?.message).toMatchObject({ userId: null, agentId: 'assistant', role: 'assistant', content: '', metadata: { status: 'streaming' } });
      for (const { message } of result.messages) expect(await db().getMessage(message.id)).toEqual(message);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });

      const expected: StreamRecord = {
        id: input.stream.id,
        sessionId: session.id,
        messageId: answer.id,
        promptMessageId: question.id,
        userId: 'asker',
        agentId: 'assistant',
        model: 'test-model',
        status: 'pending',
        finishReason: null,
        maxTokens: 100,
        tokensGenerated: 0,
        promptTokens: null,
        bytesEmitted: 0,
        errors: 0,
        errorMessage: null,
        nodeId: 'node-a',
        startedAt: at,
        firstTokenAt: null,
        completedAt: null,
        updatedAt: at,
      };
      expect(result.stream).toEqual(expected);
      expect(await db().getStream(input.stream.id)).toEqual(expected);

      const bare = await startStream(session.id, { agentId: null, model: null, maxTokens: null, nodeId: null });
      expect(bare).toMatchObject({ agentId: null, model: null, maxTokens: null, nodeId: null, status: 'pending' });
      expect(await db().getStream(bare.id)).toEqual(bare);
    });

    it('createStream is atomic: a failing message (an id already taken), a taken stream id or an unknown session writes nothing at all', async () => {
      const session = await newSession();
      const existing = await post(session.id);
      const badMessage = streamStart(session.id);
      badMessage.messages = [must(badMessage.messages[0]), { ...must(badMessage.messages[1]), id: existing.id }];
      await expect(db().createStream(badMessage)).rejects.toBeDefined();
      expect(await db().getStream(badMessage.stream.id)).toBeNull();
      expect(await db().getMessage(must(badMessage.messages[0]).id)).toBeNull();
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });

      const first = await startStream(session.id);
      const taken = streamStart(session.id, { id: first.id });
      const conflict = await caught(db().createStream(taken));
      expect(isChatError(conflict) && conflict.code).toBe('CONFLICT');
      for (const m of taken.messages) expect(await db().getMessage(m.id)).toBeNull();
      expect(await db().getStream(first.id)).toEqual(first);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });

      const orphan = streamStart(session.id, { sessionId: uid('missing') });
      const notFound = await caught(db().createStream({ stream: orphan.stream, messages: [] }));
      expect(isChatError(notFound) && notFound.code).toBe('NOT_FOUND');
      expect(await db().getStream(orphan.stream.id)).toBeNull();
      // The counter is intact: the next message still gets the next number.
      expect((await post(session.id)).seq).toBe(4);
    });

    it("createStream applies the clientMessageId rule: a retried prompt is the stored message (created: false) and the row points at it", async () => {
      const session = await newSession();
      const first = await db().createStream(streamStart(session.id, {}, { clientMessageId: 'ask-once' }));
      const retry = streamStart(session.id, {}, { clientMessageId: 'ask-once', content: 'asked again' });
      const second = await db().createStream(retry);
      const firstPrompt = must(first.messages[0]).message;
      expect(second.messages.map((r) => [r.message.id, r.created])).toEqual([
        [firstPrompt.id, false],
        [must(retry.messages[1]).id, true],
      ]);
      expect(second.messages[0]?.message).toEqual(await db().getMessage(firstPrompt.id));
      expect(second.stream).toMatchObject({ promptMessageId: firstPrompt.id, messageId: must(retry.messages[1]).id });
      expect(await db().getMessage(must(retry.messages[0]).id)).toBeNull();
      expect(await lastSeq(session.id)).toBe(3);
    });

    it('updateStream applies a partial patch: only the given fields change, updatedAt = at, nulls clear; message is null without a message patch', async () => {
      const session = await newSession();
      const started = await startStream(session.id);
      const firstToken = clock();
      const at1 = clock();
      const one = await db().updateStream(started.id, { status: 'streaming', firstTokenAt: firstToken, promptTokens: 12, at: at1 });
      const afterOne: StreamRecord = { ...started, status: 'streaming', firstTokenAt: firstToken.toISOString(), promptTokens: 12, updatedAt: at1.toISOString() };
      expect(one).toEqual({ stream: afterOne, message: null });
      expect(await db().getStream(started.id)).toEqual(afterOne);

      const at2 = clock();
      const two = await db().updateStream(started.id, { tokensGenerated: 40, bytesEmitted: 180, errors: 1, errorMessage: 'upstream 503, retried', at: at2 });
      const afterTwo: StreamRecord = { ...afterOne, tokensGenerated: 40, bytesEmitted: 180, errors: 1, errorMessage: 'upstream 503, retried', updatedAt: at2.toISOString() };
      expect(two?.stream).toEqual(afterTwo);

      const at3 = clock();
      const three = await db().updateStream(started.id, { errorMessage: null, promptTokens: null, firstTokenAt: null, at: at3 });
      expect(three?.stream).toEqual({ ...afterTwo, errorMessage: null, promptTokens: null, firstTokenAt: null, updatedAt: at3.toISOString() });

      const at4 = clock();
      const touched = await db().updateStream(started.id, { at: at4 });
      expect(touched?.stream).toEqual({ ...must(three).stream, updatedAt: at4.toISOString() });
      expect(await db().getStream(started.id)).toEqual(touched?.stream);
      // Metrics alone are no change to any message: no seq.
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('updateStream with a flush (bumpSeq: false) writes the answer without a seq; the final commit (bumpSeq: true) takes the next seq', async () => {
      const session = await newSession();
      const { stream, messages } = await db().createStream(streamStart(session.id));
      const answer = must(messages[1]).message;

      const at1 = clock();
      const flushed = must(
        await db().updateStream(
          stream.id,
          { status: 'streaming', tokensGenerated: 3, bytesEmitted: 14, firstTokenAt: at1, at: at1 },
          { patch: { content: 'Forty two is', tokens: 3, at: at1 }, bumpSeq: false },
        ),
      );
      expect(flushed.stream).toMatchObject({ status: 'streaming', tokensGenerated: 3, bytesEmitted: 14, updatedAt: at1.toISOString() });
      expect(flushed.message).toEqual({ ...answer, content: 'Forty two is', tokens: 3, updatedAt: at1.toISOString() });
      expect(await db().getMessage(answer.id)).toEqual(flushed.message);
      expect(await lastSeq(session.id)).toBe(2);
      expect(flushed.message?.changeSeq).toBe(2);
      expect((await db().searchMessages(session.id, ['forty'], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((m) => m.id)).toEqual([answer.id]);

      await post(session.id, { content: 'meanwhile' }); // 3
      const at2 = clock();
      const done = must(
        await db().updateStream(
          stream.id,
          { status: 'completed', finishReason: 'stop', tokensGenerated: 5, bytesEmitted: 20, completedAt: at2, at: at2 },
          { patch: { content: 'The answer is 42.', tokens: 5, metadata: { status: 'completed' }, at: at2 }, bumpSeq: true },
        ),
      );
      expect(done.message).toEqual({
        ...answer,
        content: 'The answer is 42.',
        tokens: 5,
        metadata: { status: 'completed' },
        updatedAt: at2.toISOString(),
        seq: 2,
        changeSeq: 4,
      });
      expect(await lastSeq(session.id)).toBe(4);
      expect(await db().getMessage(answer.id)).toEqual(done.message);
      expect(done.stream).toEqual({
        ...stream,
        status: 'completed',
        finishReason: 'stop',
        tokensGenerated: 5,
        bytesEmitted: 20,
        firstTokenAt: at1.toISOString(),
        completedAt: at2.toISOString(),
        updatedAt: at2.toISOString(),
      });
      expect(await db().getStream(stream.id)).toEqual(done.stream);
      expect((await db().getChangesSince(session.id, 3, 10)).map((m) => [m.id, m.changeSeq])).toEqual([[answer.id, 4]]);
    });

    it('updateStream returns null for an unknown stream and changes nothing; getStream returns null for an unknown id', async () => {
      const session = await newSession();
      const message = await post(session.id);
      expect(await db().updateStream(newId(), { status: 'completed', at: clock() })).toBeNull();
      expect(await db().updateStream(newId(), { status: 'completed', at: clock() }, { patch: { content: 'x', at: clock() }, bumpSeq: true })).toBeNull();
      expect(await db().getStream(newId())).toBeNull();
      expect(await db().getMessage(message.id)).toEqual(message);
      expect(await lastSeq(session.id)).toBe(1);
    });

    it('flushStream (when implemented) writes the answer and the counters of a running stream only: no seq, nothing else; false once it ended', async (ctx) => {
      if (!db().flushStream) return ctx.skip();
      const session = await newSession();
      const { stream, messages } = await db().createStream(streamStart(session.id));
      const answer = must(messages[1]).message;
      const at1 = clock();
      const flush = { content: 'Forty two is', tokens: 3, tokensGenerated: 3, bytesEmitted: 14, errors: 1, firstTokenAt: at1, at: at1 };
      expect(await db().flushStream!(stream.id, flush)).toBe(true);
      expect(await db().getMessage(answer.id)).toEqual({ ...answer, content: 'Forty two is', tokens: 3, updatedAt: at1.toISOString() });
      expect(await db().getStream(stream.id)).toEqual({
        ...stream,
        status: 'streaming',
        tokensGenerated: 3,
        bytesEmitted: 14,
        errors: 1,
        firstTokenAt: at1.toISOString(),
        updatedAt: at1.toISOString(),
      });
      expect(await lastSeq(session.id)).toBe(2);
      expect((await db().searchMessages(session.id, ['forty'], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((m) => m.id)).toEqual([answer.id]);

      const at2 = clock();
      expect(await db().flushStream!(stream.id, { ...flush, content: 'Forty two is the answer', tokens: 5, tokensGenerated: 5, at: at2 })).toBe(true);
      expect(await db().getMessage(answer.id)).toMatchObject({ content: 'Forty two is the answer', tokens: 5, changeSeq: 2, updatedAt: at2.toISOString() });

      // Ended (here: closed by another node's sweep): a late flush writes nothing.
      await db().updateStream(stream.id, { status: 'error', finishReason: 'node-lost', at: clock() });
      const ended = await db().getStream(stream.id);
      expect(await db().flushStream!(stream.id, { ...flush, content: 'overwritten?', at: clock() })).toBe(false);
      expect(await db().getStream(stream.id)).toEqual(ended);
      expect((await db().getMessage(answer.id))?.content).toBe('Forty two is the answer');
      expect(await db().flushStream!(newId(), flush)).toBe(false);
      expect(await lastSeq(session.id)).toBe(2);
    });

    it("an answer's parts: stored by a flush and the final commit, read back by every read; none stores none; a deleted answer has none", async () => {
      const session = await newSession();
      const { stream, messages } = await db().createStream(streamStart(session.id));
      const [question, created] = messages.map((r) => r.message) as [Message, Message];
      expect(created).not.toHaveProperty('parts');
      expect(question).not.toHaveProperty('parts');
      const call: MessagePart = { type: 'tool-call', toolCallId: 'call_1', toolName: 'lookup', input: { orderId: 'A-1', 'ünï': [1, null, { deep: true }] } };
      const result: MessagePart = { type: 'tool-result', toolCallId: 'call_1', toolName: 'lookup', output: { error: 'Timed out' }, isError: true };
      const soFar: MessagePart[] = [{ type: 'text', text: 'Let me look. ' }, call];

      const at1 = clock();
      if (db().flushStream) {
        const flush = { content: 'Let me look. ', parts: soFar, tokens: 4, tokensGenerated: 4, bytesEmitted: 13, errors: 0, firstTokenAt: at1, at: at1 };
        expect(await db().flushStream!(stream.id, flush)).toBe(true);
        expect((await db().getMessage(created.id))?.parts).toEqual(soFar);
        // A flush without parts leaves them as they are.
        expect(await db().flushStream!(stream.id, { ...flush, parts: undefined, at: clock() })).toBe(true);
        expect((await db().getMessage(created.id))?.parts).toEqual(soFar);
      } else {
        await db().updateStream(stream.id, { status: 'streaming', at: at1 }, { patch: { content: 'Let me look. ', parts: soFar, at: at1 }, bumpSeq: false });
        expect((await db().getMessage(created.id))?.parts).toEqual(soFar);
      }

      const parts: MessagePart[] = [...soFar, result, { type: 'text', text: '\n\nIt is late.' }];
      const at2 = clock();
      const done = must(
        await db().updateStream(
          stream.id,
          { status: 'completed', at: at2 },
          { patch: { content: 'Let me look. \n\nIt is late.', parts, metadata: { status: 'completed' }, at: at2 }, bumpSeq: true },
        ),
      );
      expect(done.message?.parts).toEqual(parts);
      const answer = must(done.message);
      expect(await db().getMessage(answer.id)).toEqual(answer);
      const page = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null });
      expect(page.messages.find((m) => m.id === answer.id)).toEqual(answer);
      expect(page.messages.find((m) => m.id === question.id)).not.toHaveProperty('parts');
      expect((await db().getChangesSince(session.id, 0, 10)).find((m) => m.id === answer.id)).toEqual(answer);
      expect((await db().searchMessages(session.id, ['late'], { limit: 10, offset: 0, maxCount: 1000 })).messages).toEqual([answer]);

      // Stored as given: changing the list afterwards changes nothing stored.
      parts.pop();
      expect((await db().getMessage(answer.id))?.parts).toHaveLength(4);
      // None (null or empty) is no `parts` at all.
      for (const none of [null, []]) {
        await db().updateMessage(answer.id, { parts: none, at: clock() }, { bumpSeq: false });
        expect(await db().getMessage(answer.id)).not.toHaveProperty('parts');
        await db().updateMessage(answer.id, { parts: soFar, at: clock() }, { bumpSeq: false });
      }
      await db().updateMessage(answer.id, { isDeleted: true, deletedAt: clock(), at: clock() }, { bumpSeq: true });
      const deleted = await db().getMessage(answer.id);
      expect(deleted).toMatchObject({ isDeleted: true, content: '' });
      expect(deleted).not.toHaveProperty('parts');
    });

    it('updateStream with expectedStatuses writes only when the row is in one of them (a stream is committed once)', async () => {
      const session = await newSession();
      const stream = await startStream(session.id);
      const before = await lastSeq(session.id);
      const commit = () =>
        db().updateStream(
          stream.id,
          { status: 'error', finishReason: 'node-lost', expectedStatuses: ['pending', 'streaming'], at: clock() },
          { patch: { metadata: { status: 'error' }, at: clock() }, bumpSeq: true },
        );
      const [first, second] = await Promise.all([commit(), commit()]);
      expect([first, second].filter((r) => r !== null)).toHaveLength(1);
      expect(await lastSeq(session.id)).toBe(before + 1);
      expect(await db().getStream(stream.id)).toMatchObject({ status: 'error', finishReason: 'node-lost' });
      expect(await commit()).toBeNull();
      expect(await db().updateStream(stream.id, { status: 'completed', expectedStatuses: [], at: clock() })).toBeNull();
      expect((await db().getStream(stream.id))?.status).toBe('error');
    });

    it("listStreams returns a session's streams in the given states, oldest first; [] for no states or an unknown session", async () => {
      const session = await newSession();
      const other = await newSession();
      const a = await startStream(session.id);
      const b = await startStream(session.id);
      const c = await startStream(session.id);
      const elsewhere = await startStream(other.id);
      await db().updateStream(b.id, { status: 'streaming', at: clock() });
      await db().updateStream(c.id, { status: 'completed', completedAt: clock(), at: clock() });
      await db().updateStream(a.id, { status: 'error', errorMessage: 'boom', at: clock() });

      const ids = async (statuses: StreamRecord['status'][]) => (await db().listStreams(session.id, statuses)).map((s) => s.id);
      expect(await ids(['pending', 'streaming'])).toEqual([b.id]);
      expect(await ids(['completed', 'streaming', 'error'])).toEqual([a.id, b.id, c.id]);
      expect(await ids(['stopped'])).toEqual([]);
      expect(await ids([])).toEqual([]);
      expect(await db().listStreams(session.id, ['streaming'])).toEqual([await db().getStream(b.id)]);
      expect((await db().listStreams(other.id, ['pending'])).map((s) => s.id)).toEqual([elsewhere.id]);
      expect(await db().listStreams(uid('missing'), ['pending', 'streaming'])).toEqual([]);
    });

    it('listStaleStreams returns pending/streaming streams of the node (or of any node with nodeId null) last updated before the cutoff', async () => {
      const session = await newSession();
      const nodeA = uid('node');
      const nodeB = uid('node');
      const pendingA = await startStream(session.id, { nodeId: nodeA });
      const streamingA = await startStream(session.id, { nodeId: nodeA });
      await db().updateStream(streamingA.id, { status: 'streaming', at: clock() });
      const streamingB = await startStream(session.id, { nodeId: nodeB });
      await db().updateStream(streamingB.id, { status: 'streaming', at: clock() });
      const noNode = await startStream(session.id, { nodeId: null });
      const finished = await Promise.all(
        (['completed', 'stopped', 'error'] as const).map(async (status) => {
          const s = await startStream(session.id, { nodeId: nodeA });
          await db().updateStream(s.id, { status, at: clock() });
          return s.id;
        }),
      );
      const fresh = await startStream(session.id, { nodeId: nodeA });
      const cutoff = clock();
      // Updated after the cutoff: alive, not stale.
      await db().updateStream(fresh.id, { status: 'streaming', tokensGenerated: 1, at: cutoff });
      const lateStart = await startStream(session.id, { nodeId: nodeA });

      const ids = async (nodeId: string | null, updatedBefore: Date) =>
        (await db().listStaleStreams({ nodeId, updatedBefore })).map((s) => s.id);
      expect(await ids(nodeA, cutoff)).toEqual([pendingA.id, streamingA.id]);
      expect(await ids(nodeB, cutoff)).toEqual([streamingB.id]);
      expect(await ids(uid('node'), cutoff)).toEqual([]);
      // Any node: other cases' streams may show up too, so only ours are checked.
      const mine = new Set([pendingA.id, streamingA.id, streamingB.id, noNode.id, ...finished, fresh.id, lateStart.id]);
      expect((await ids(null, cutoff)).filter((id) => mine.has(id))).toEqual([pendingA.id, streamingA.id, streamingB.id, noNode.id]);
      // The cutoff is exclusive and moves with it.
      expect(await ids(nodeA, new Date(Date.parse(pendingA.updatedAt)))).toEqual([]);
      const later = new Date(Date.parse(lateStart.updatedAt) + 1);
      expect(await ids(nodeA, later)).toEqual([pendingA.id, streamingA.id, fresh.id, lateStart.id]);
      const stale = await db().listStaleStreams({ nodeId: nodeA, updatedBefore: cutoff });
      expect(stale[1]).toEqual(await db().getStream(streamingA.id));
    });

    it(
      'concurrent createStream and updateStream calls in one session take distinct, gapless seqs (prompt and answer consecutive)',
      async () => {
        const session = await newSession();
        const started = await Promise.all(Array.from({ length: 20 }, () => db().createStream(streamStart(session.id))));
        for (const { messages } of started) expect(must(messages[1]).message.seq).toBe(must(messages[0]).message.seq + 1);
        const seqs = started.flatMap(({ messages }) => messages.map((r) => r.message.seq));
        expect([...seqs].sort((x, y) => x - y)).toEqual(range(1, 40));
        const commits = await Promise.all(
          started.map(async ({ stream }) => {
            const at = clock();
            const done = await db().updateStream(stream.id, { status: 'completed', at }, { patch: { content: 'done', at }, bumpSeq: true });
            return must(must(done).message).changeSeq;
          }),
        );
        expect([...commits].sort((x, y) => x - y)).toEqual(range(41, 60));
        expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 60, messageCount: 40 });
        expect(await db().listStreams(session.id, ['pending', 'streaming'])).toEqual([]);
      },
      SLOW,
    );
  });

  // ---- concurrency ------------------------------------------------------------------------

  describe('concurrency', () => {
    it(
      'concurrent inserts into one session (200 single-message calls and 4 batches at once) get seqs exactly 1..N, unique and gapless',
      async () => {
        const session = await newSession();
        const singles = Array.from({ length: 200 }, (_, i) => db().insertMessages([draft(session.id, { content: `single ${i}` })]));
        const batches = Array.from({ length: 4 }, (_, b) =>
          db().insertMessages(Array.from({ length: 5 }, (_, i) => draft(session.id, { content: `batch ${b}.${i}` }))),
        );
        const batchResults = await Promise.all(batches);
        const results = [...(await Promise.all(singles)).flat(), ...batchResults.flat()];
        const n = 220;
        expect(results.every((r) => r.created)).toBe(true);
        expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual(range(1, n));
        for (const batch of batchResults) {
          const seqs = batch.map((r) => r.message.seq);
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y)); // input order = seq order
        }
        expect(await sessionNow(session.id)).toMatchObject({ lastSeq: n, messageCount: n });
        const history = await db().getHistory(session.id, { limit: n, offset: 0, parentMessageId: null });
        expect(history.messages.map((m) => m.seq)).toEqual(range(1, n));
        const seqById = new Map(results.map((r) => [r.message.id, r.message.seq]));
        expect(history.messages.every((m) => seqById.get(m.id) === m.seq)).toBe(true);
      },
      SLOW,
    );

    it(
      'concurrent inserts with the same clientMessageId store exactly one message',
      async () => {
        const session = await newSession();
        const singles = Array.from({ length: 20 }, (_, i) =>
          db().insertMessages([draft(session.id, { userId: 'alice', clientMessageId: 'once', content: `attempt ${i}` })]),
        );
        const batches = Array.from({ length: 5 }, (_, i) =>
          db().insertMessages([
            draft(session.id, { userId: 'alice', clientMessageId: 'once', content: `batched attempt ${i}` }),
            draft(session.id, { userId: 'alice', clientMessageId: `unique-${i}`, content: `unique ${i}` }),
          ]),
        );
        const results = (await Promise.all([...singles, ...batches])).flat();
        const once = results.filter((r) => r.message.clientMessageId === 'once');
        expect(once).toHaveLength(25);
        expect(once.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(once.map((r) => r.message.id)).size).toBe(1);
        expect(results.filter((r) => r.message.clientMessageId !== 'once').every((r) => r.created)).toBe(true);
        expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 6, messageCount: 6 });
        const all = await db().getHistory(session.id, { limit: 100, offset: 0, parentMessageId: null });
        expect(all.messages.map((m) => m.seq)).toEqual(range(1, 6));
      },
      SLOW,
    );

    it(
      'concurrent changes of every kind (inserts, edits, reactions, attachments) each take a distinct seq, with no gaps',
      async () => {
        const session = await newSession();
        const existing = (await db().insertMessages(Array.from({ length: 50 }, (_, i) => draft(session.id, { content: `base ${i}` })))).map(
          (r) => r.message,
        );
        const target = (i: number) => must(existing[i]).id;
        const seqs = await Promise.all([
          ...Array.from({ length: 30 }, async (_, i) => must((await db().insertMessages([draft(session.id, { content: `new ${i}` })]))[0]).message.seq),
          ...Array.from({ length: 20 }, async (_, i) => {
            const at = clock();
            return must(await db().updateMessage(target(i), { content: `edited ${i}`, isEdited: true, editedAt: at, at }, { bumpSeq: true })).changeSeq;
          }),
          ...Array.from({ length: 20 }, async (_, i) => must(await react(target(20 + i), `user-${i}`, '👍', 'add')).message.changeSeq),
          ...Array.from({ length: 10 }, async (_, i) => must(await db().addAttachments(target(40 + i), [attachment()], clock())).message.changeSeq),
        ]);
        expect([...seqs].sort((x, y) => x - y)).toEqual(range(51, 130));
        expect(await lastSeq(session.id)).toBe(130);
        const changes = await db().getChangesSince(session.id, 50, 1000);
        expect(changes.map((m) => m.changeSeq)).toEqual(range(51, 130));
      },
      SLOW,
    );
  });

  // ---- content round-trip -----------------------------------------------------------------

  describe('content round-trip', () => {
    const samples = [
      'emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🫠',
      'CJK 你好，世界 こんにちは 안녕하세요',
      'RTL שלום עולם مرحبا بالعالم \u200F\u200E mixed',
      'combining e\u0301 n\u0303 vs precomposed é ñ; astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎',
      'controls \t tab \n newline \r\n crlf \u0001 \u001F \u007F \u0085 \u2028 \u2029 \u00A0 \uFEFF',
      "quotes 'single' \"double\" `back` \\ backslash %_ like-wildcards ?$1 :name '); DROP TABLE chat_messages; --",
      '   leading and trailing spaces   ',
      '<script>alert(1)</script> &amp; stays as plain text',
    ];

    it('Unicode content, metadata and file names round-trip exactly (emoji, CJK, RTL, combining marks, NUL-free control characters)', async () => {
      const session = await newSession();
      const inserted = await db().insertMessages(
        samples.map((content) =>
          draft(session.id, { content, metadata: { text: content, [[...content].slice(0, 8).join("")]: true }, attachments: [attachment({ fileName: `${[...content].slice(0, 12).join("")}.txt` })] }),
        ),
      );
      const page = await db().getHistory(session.id, { limit: 100, offset: 0, parentMessageId: null });
      expect(page.messages.map((m) => m.content)).toEqual(samples);
      for (const [i, result] of inserted.entries()) {
        const sample = must(samples[i]);
        const stored = must(await db().getMessage(result.message.id));
        expect(stored.content).toBe(sample);
        expect(stored.content.length).toBe(sample.length);
        expect(stored.metadata).toEqual({ text: sample, [[...sample].slice(0, 8).join("")]: true });
        expect(stored.attachments[0]?.fileName).toBe(`${[...sample].slice(0, 12).join("")}.txt`);
      }
      const edited = await db().updateMessage(must(inserted[0]).message.id, { content: must(samples[2]), at: clock() }, { bumpSeq: true });
      expect(edited?.content).toBe(samples[2]);
    });

    it('a 10,000-character message round-trips and its last word is searchable', async () => {
      const session = await newSession();
      const body = 'lorem ipsum dolor sit amet – ünïcödé ✓ 漢字 '.repeat(300);
      const content = `${body.slice(0, 10_000 - ' zebra'.length)} zebra`;
      expect(content.length).toBe(10_000);
      const message = await post(session.id, { content });
      expect((await db().getMessage(message.id))?.content).toBe(content);
      expect((await db().getHistory(session.id, { limit: 1, offset: 0, parentMessageId: null })).messages[0]?.content).toBe(content);
      expect((await db().searchMessages(session.id, ['zebra'], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((m) => m.id)).toEqual([message.id]);
    });
  });
}

// ---- helpers ----------------------------------------------------------------------------

function must<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected a value, got ' + String(value));
  return value;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** The contract orders users within a group, not the groups themselves. */
function byEmoji(reactions: readonly Reaction[]): Reaction[] {
  return [...reactions].sort((a, b) => (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0));
}
