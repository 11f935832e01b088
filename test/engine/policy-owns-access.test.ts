import {
  ChatEngine,
  ChatError,
  membersPolicy,
  openPolicy,
  ScriptedProvider,
  type AuthorizeContext,
  type AuthorizeFn,
  type AuthorizePolicy,
  type SessionAction,
} from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { testStorages } from '../support/storages.js';

/**
 * The policy is the one owner of access: whatever it says — with a storage check declared or
 * not — every path (send, history, search, reactions, streams) answers the same, on every
 * storage. The expected verdict is the policy function's own answer for the call.
 */
const onlyOwnersWrite: AuthorizeFn = Object.assign(
  (ctx: AuthorizeContext) => (ctx.action === 'session:read' || ctx.role === 'owner') && membersPolicy(ctx),
  // Reads are exactly "a member": storage may check those; every write asks the function.
  { storageCheck: (action: SessionAction) => (action === 'session:read' ? ('member' as const) : null) },
);
/** A composition: no storage check, so the engine asks it everywhere. */
const bobBanned: AuthorizeFn = (ctx) => ctx.userId !== 'bob' && membersPolicy(ctx);

const POLICIES: Record<string, { policy: AuthorizePolicy; fn: AuthorizeFn }> = {
  'members (built-in)': { policy: 'members', fn: membersPolicy },
  'open (built-in)': { policy: 'open', fn: openPolicy },
  'only owners write (declares its reads)': { policy: onlyOwnersWrite, fn: onlyOwnersWrite },
  'bob banned (no declaration)': { policy: bobBanned, fn: bobBanned },
};

const ACTORS = { alice: 'owner', bob: 'member', mallory: null } as const;

type Path = { action: SessionAction; call: (engine: ChatEngine, sessionId: string, userId: string, messageId: string) => Promise<unknown> };
const PATHS: Record<string, Path> = {
  send: { action: 'message:send', call: (e, s, u) => e.createMessage({ sessionId: s, userId: u, content: 'hi' }) },
  history: { action: 'session:read', call: (e, s, u) => e.getMessageHistory(s, u, {}) },
  search: { action: 'session:read', call: (e, s, u) => e.searchMessages(s, u, 'hello') },
  reactions: { action: 'message:react', call: (e, _s, u, m) => e.toggleReaction(m, u, '👍') },
  streams: { action: 'stream:request', call: (e, s, u) => e.requestStream({ sessionId: s, userId: u, prompt: 'go' }) },
};

describe('the policy decides every path on every storage', async () => {
  for (const { name, create, skip } of await testStorages('policy-owns-access')) {
    it.skipIf(skip !== undefined)(`${name}: send, history, search, reactions and streams follow each policy`, async () => {
      for (const [label, { policy, fn }] of Object.entries(POLICIES)) {
        const engine = new ChatEngine({
          storage: create(),
          authorize: policy,
          rateLimits: NO_RATE_LIMITS,
          llm: new ScriptedProvider({ tokensPerSecond: 0, reply: 'ok' }),
        });
        await engine.init();
        try {
          for (const [userId, role] of Object.entries(ACTORS)) {
            const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
            const message = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hello world' }, { trusted: true });
            for (const [path, { action, call }] of Object.entries(PATHS)) {
              const ctx: AuthorizeContext = { userId, sessionId: session.id, action, role, authorId: 'alice' };
              const allowed = await fn(ctx);
              const outcome = await call(engine, session.id, userId, message.id).then(
                () => 'allowed',
                (e: unknown) => (e instanceof ChatError ? e.code : e),
              );
              expect(outcome, `${label}: ${userId} (${role ?? 'outsider'}) ${path}`).toBe(allowed ? 'allowed' : 'FORBIDDEN');
            }
          }
        } finally {
          await engine.close();
        }
      }
    });
  }
});
