/**
 * What the built-in policies let storage check for them (`storageCheck`), a public declaration
 * adapter authors and composed policies rely on: exactly the actions any member may take, as a
 * membership check for `membersPolicy` and an existence check for `openPolicy`; nothing for actions
 * that depend on authorship or ownership, which the policy function always decides itself.
 */
import { describe, expect, it } from 'vitest';
import { membersPolicy, openPolicy, type SessionAction } from 'parley-chat';

const ANY_MEMBER: SessionAction[] = ['session:read', 'session:join', 'message:send', 'message:react', 'message:seen', 'typing', 'stream:request'];
const DECIDED_BY_THE_FUNCTION: SessionAction[] = ['message:edit', 'attachment:add', 'attachment:delete', 'message:delete', 'stream:stop', 'member:add', 'member:remove'];

describe('the storage checks the built-in policies declare', () => {
  it('membersPolicy: storage checks membership for what any member may do, nothing else', () => {
    for (const action of ANY_MEMBER) expect(membersPolicy.storageCheck(action), action).toBe('member');
    for (const action of DECIDED_BY_THE_FUNCTION) expect(membersPolicy.storageCheck(action), action).toBeNull();
  });

  it('openPolicy: storage checks only that the session exists for what any member may do, nothing else', () => {
    for (const action of ANY_MEMBER) expect(openPolicy.storageCheck(action), action).toBe('session');
    for (const action of DECIDED_BY_THE_FUNCTION) expect(openPolicy.storageCheck(action), action).toBeNull();
  });

  it('agrees with each policy function: what storage may check is what the function allows any member', () => {
    for (const action of [...ANY_MEMBER, ...DECIDED_BY_THE_FUNCTION]) {
      const anyMember = membersPolicy({ userId: 'u', sessionId: 's', action, role: 'member', authorId: 'someone-else', targetUserId: 'another' });
      expect(membersPolicy.storageCheck(action) !== null, action).toBe(anyMember);
    }
  });
});
