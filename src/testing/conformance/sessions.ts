import { describe, expect, it } from 'vitest';
import { isChatError } from '../../errors.js';
import type { Session, SessionMember } from '../../model.js';
import { must, caught, type ConformanceKit } from './kit.js';

/** The storage contract's rules for the lifecycle, sessions and members. */
export function defineSessionsCases(kit: ConformanceKit): void {
  const { db, clock, uid, newSession, attachment, post, sessionNow, lastSeq, softDelete } = kit;

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
}
