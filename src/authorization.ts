import type { MemberRole } from './model.js';

/**
 * Everything a user can try to do in a session. One authorization function answers for every path
 * (socket, REST, direct engine calls, replay), so the bindings can never disagree.
 *
 * Where storage checks access itself to save a round trip (a send, a history page, a search), it
 * checks only what the policy declared for it ({@link AuthorizeFn.storageCheck}): the rule has one
 * owner, the policy, and a policy without a declaration is asked on every path.
 */
export type SessionAction =
  | 'session:read' // history, search, a message, reactions, attachments, members, presence, stream status
  | 'session:join'
  | 'message:send'
  | 'message:edit'
  | 'message:delete'
  | 'message:react'
  | 'message:seen'
  | 'attachment:add'
  | 'attachment:delete'
  | 'typing'
  | 'member:add'
  | 'member:remove'
  | 'stream:request'
  | 'stream:stop';

export interface AuthorizeContext {
  /** The acting user (from the verified token). */
  userId: string;
  sessionId: string;
  action: SessionAction;
  /** The user's role in the session, or null when not a member. */
  role: MemberRole | null;
  /** For actions on a message, attachment or stream: who wrote / requested it. */
  authorId?: string | null;
  /** For member:add / member:remove: the member being added or removed. */
  targetUserId?: string;
}

/**
 * What storage may check on a policy's behalf, inside the statement that does the work (a send's
 * insert, a history page, a search count), which saves a storage round trip per call:
 * - `'member'`: allowed exactly when the user is a member of the session;
 * - `'session'`: allowed for anyone, when the session exists.
 */
export type StorageCheck = 'member' | 'session';

/**
 * A policy: one function answers for every path. It may also declare, per action, a
 * {@link StorageCheck} that gives the same verdict as the function; for an action it declares
 * (sends, history and search are the ones the engine hands down) the engine passes the declaration
 * to storage instead of calling the function, and storage applies only what it is told. Without
 * a declaration the engine always calls the function first.
 */
export interface AuthorizeFn {
  (ctx: AuthorizeContext): boolean | Promise<boolean>;
  /** What storage may check for `action` on this policy's behalf; null (or absent): ask the function. */
  readonly storageCheck?: (action: SessionAction) => StorageCheck | null;
}
export type AuthorizePolicy = 'members' | 'open' | AuthorizeFn;

/** Who may take an action, by the user's place in the session and what the action is on. */
type Rule =
  /** Any member. */
  | 'member'
  /** The member who wrote the message (or requested the stream). */
  | 'author'
  | 'author-or-owner'
  | 'owner'
  /** An owner, or a member removing themselves (leaving). */
  | 'owner-or-self';

/**
 * The rule of the built-in policies, as data: the policy functions read it, and so do their
 * storage checks, so what storage checks can never drift from what the function says.
 */
const RULES: Readonly<Record<SessionAction, Rule>> = {
  'session:read': 'member',
  'session:join': 'member',
  'message:send': 'member',
  'message:react': 'member',
  'message:seen': 'member',
  typing: 'member',
  'stream:request': 'member',
  'message:edit': 'author',
  'attachment:add': 'author',
  'attachment:delete': 'author',
  'message:delete': 'author-or-owner',
  'stream:stop': 'author-or-owner',
  'member:add': 'owner',
  'member:remove': 'owner-or-self',
};

/** Member management stays with owners even in public rooms. */
const MANAGES_MEMBERS = new Set<SessionAction>(['member:add', 'member:remove']);

function follows(rule: Rule, ctx: AuthorizeContext, role: NonNullable<AuthorizeContext['role']>): boolean {
  const isAuthor = ctx.authorId === ctx.userId;
  switch (rule) {
    case 'member':
      return true;
    case 'author':
      return isAuthor;
    case 'author-or-owner':
      return isAuthor || role === 'owner';
    case 'owner':
      return role === 'owner';
    case 'owner-or-self':
      return role === 'owner' || ctx.targetUserId === ctx.userId;
  }
}

/**
 * The default policy: members read and write; only the author edits a message or
 * adds/deletes its attachments; the author or an owner deletes a message; owners manage members
 * (anyone may remove themselves, i.e. leave); the requester or an owner stops a stream.
 * Storage checks membership itself for what any member may do.
 *
 * Compose it in your own function to add roles (the composition carries no storage check, so the
 * engine asks it on every path):
 * ```ts
 * authorize: (ctx) => isModerator(ctx.userId) || membersPolicy(ctx)
 * ```
 */
export const membersPolicy = Object.assign(
  (ctx: AuthorizeContext): boolean => ctx.role !== null && follows(RULES[ctx.action], ctx, ctx.role),
  { storageCheck: (action: SessionAction): StorageCheck | null => (RULES[action] === 'member' ? 'member' : null) },
) satisfies AuthorizeFn;

/**
 * Public rooms: anyone authenticated may read, join and write in any session, as if a member;
 * author and owner rules still hold, and only owners manage members. Storage checks only that
 * the session exists for what any member may do.
 */
export const openPolicy = Object.assign(
  (ctx: AuthorizeContext): boolean => {
    const role = ctx.role ?? (MANAGES_MEMBERS.has(ctx.action) ? null : 'member');
    return role !== null && follows(RULES[ctx.action], ctx, role);
  },
  { storageCheck: (action: SessionAction): StorageCheck | null => (RULES[action] === 'member' ? 'session' : null) },
) satisfies AuthorizeFn;

export function resolvePolicy(policy: AuthorizePolicy | undefined): AuthorizeFn {
  if (policy === undefined || policy === 'members') return membersPolicy;
  if (policy === 'open') return openPolicy;
  return policy;
}
