import type { MemberRole } from './model.js';

/**
 * Everything a user can try to do in a session. One authorization function answers for every path
 * (socket, REST, direct engine calls, replay), so the bindings can never disagree.
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

export type AuthorizeFn = (ctx: AuthorizeContext) => boolean | Promise<boolean>;
export type AuthorizePolicy = 'members' | 'open' | AuthorizeFn;

/**
 * The default policy: members read and write; only the author edits a message or
 * adds/deletes its attachments; the author or an owner deletes a message; owners manage members
 * (anyone may remove themselves, i.e. leave); the requester or an owner stops a stream.
 *
 * Compose it in your own function to add roles:
 * ```ts
 * authorize: (ctx) => isModerator(ctx.userId) || membersPolicy(ctx)
 * ```
 */
export function membersPolicy(ctx: AuthorizeContext): boolean {
  const { role, userId, authorId } = ctx;
  if (role === null) return false;
  switch (ctx.action) {
    case 'message:edit':
    case 'attachment:add':
    case 'attachment:delete':
      return authorId === userId;
    case 'message:delete':
    case 'stream:stop':
      return authorId === userId || role === 'owner';
    case 'member:add':
      return role === 'owner';
    case 'member:remove':
      return role === 'owner' || ctx.targetUserId === userId;
    default:
      return true;
  }
}

/**
 * Public rooms: anyone authenticated may read, join and write in any session, as if a member;
 * author and owner rules still hold, and only owners manage members.
 */
export function openPolicy(ctx: AuthorizeContext): boolean {
  // Stryker disable next-line ConditionalExpression,StringLiteral: as a member, member:add is refused anyway (owners only); it is named for the reader
  if (ctx.role !== null || ctx.action === 'member:add' || ctx.action === 'member:remove') return membersPolicy(ctx);
  // Stryker disable next-line StringLiteral: membersPolicy tells only owners from everyone else
  return membersPolicy({ ...ctx, role: 'member' });
}

export function resolvePolicy(policy: AuthorizePolicy | undefined): AuthorizeFn {
  if (policy === undefined || policy === 'members') return membersPolicy;
  if (policy === 'open') return openPolicy;
  return policy;
}
