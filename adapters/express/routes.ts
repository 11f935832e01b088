import { z } from 'zod';
import type { AuthenticatedUser } from '../../src/auth/jwt.js';
import type { ChatEngine } from '../../src/engine.js';
import { EXTERNAL_ID, MAX_USER_LOOKUP, type EngineSchemas } from '../../src/schemas.js';
import { responseSchemas } from './response-schemas.js';

/**
 * The route table: the single description of every REST route. The router builds its handlers from
 * it and the OpenAPI generator its document, so the two cannot drift. Each handler calls exactly
 * one engine method with the authenticated user; the engine does every check.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

export interface RouteInput<P, Q, B> {
  engine: ChatEngine;
  /** From `authenticate` / `authenticateRequest`, never from the request body. */
  user: AuthenticatedUser;
  params: P;
  query: Q;
  body: B;
}

export type ResponseName = keyof typeof responseSchemas;

export interface ChatRoute {
  operationId: string;
  method: HttpMethod;
  /** Express syntax (`/messages/:messageId`), relative to the mount point. */
  path: string;
  summary: string;
  tag: string;
  params: z.ZodObject;
  query: z.ZodObject;
  /** null: the route reads no body. */
  body: z.ZodType | null;
  status: 200 | 201;
  response: ResponseName;
  /** Error statuses this route can answer besides the ones every route can (400, 401, 403, 404, 500, 503). */
  errors: readonly number[];
  handle: (input: RouteInput<unknown, unknown, unknown>) => Promise<unknown>;
}

const USER_ID_LIST = new RegExp(`^${EXTERNAL_ID}(?:,${EXTERNAL_ID}){0,${MAX_USER_LOOKUP - 1}}$`);

const NO_PARAMS = z.strictObject({});
const NO_QUERY = z.strictObject({});

interface RouteSpec<P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType> {
  operationId: string;
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  status?: 200 | 201;
  response: ResponseName;
  errors?: readonly number[];
  handle: (input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>) => Promise<unknown>;
}

// The generics type each handler's input from its own schemas; the table itself is untyped.
function route<P extends z.ZodObject = typeof NO_PARAMS, Q extends z.ZodObject = typeof NO_QUERY, B extends z.ZodType = z.ZodUndefined>(
  spec: RouteSpec<P, Q, B>,
): ChatRoute {
  return {
    operationId: spec.operationId,
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    tag: spec.tag,
    params: spec.params ?? NO_PARAMS,
    query: spec.query ?? NO_QUERY,
    body: spec.body ?? null,
    status: spec.status ?? 200,
    response: spec.response,
    errors: spec.errors ?? [],
    handle: spec.handle as ChatRoute['handle'],
  };
}

/** Every route, for one engine's schemas (its configured limits show in the document too). */
export function buildRoutes(s: EngineSchemas): ChatRoute[] {
  const sessionParams = z.strictObject({ sessionId: s.externalId });
  const messageParams = z.strictObject({ messageId: s.uuid });
  const streamParams = z.strictObject({ streamId: s.uuid });
  const WRITE = [429] as const;

  return [
    // ---- sessions --------------------------------------------------------------------------
    route({
      operationId: 'createSession',
      method: 'post',
      path: '/sessions',
      summary: 'Create a session; the caller becomes its owner',
      tag: 'Sessions',
      body: s.createSession.omit({ createdBy: true }),
      status: 201,
      response: 'Session',
      errors: [409, ...WRITE],
      handle: ({ engine, user, body }) => engine.createSession({ ...body, createdBy: user.userId }),
    }),
    route({
      operationId: 'listSessions',
      method: 'get',
      path: '/sessions',
      summary: "The caller's sessions, most recently active first, with unread counts",
      tag: 'Sessions',
      response: 'SessionList',
      handle: async ({ engine, user }) => ({ sessions: await engine.listSessions(user.userId) }),
    }),
    route({
      operationId: 'getSession',
      method: 'get',
      path: '/sessions/:sessionId',
      summary: 'A session',
      tag: 'Sessions',
      params: sessionParams,
      response: 'Session',
      handle: ({ engine, user, params }) => engine.getSession(params.sessionId, user.userId),
    }),
    route({
      operationId: 'listMembers',
      method: 'get',
      path: '/sessions/:sessionId/members',
      summary: "A session's members",
      tag: 'Sessions',
      params: sessionParams,
      response: 'MemberList',
      handle: async ({ engine, user, params }) => ({ members: await engine.listMembers(params.sessionId, user.userId) }),
    }),
    route({
      operationId: 'addMember',
      method: 'post',
      path: '/sessions/:sessionId/members',
      summary: 'Add a member (owners only; idempotent)',
      tag: 'Sessions',
      params: sessionParams,
      body: z.strictObject({ userId: s.externalId }),
      status: 201,
      response: 'SessionMember',
      errors: WRITE,
      handle: ({ engine, user, params, body }) => engine.addMember(params.sessionId, body.userId, user.userId),
    }),
    route({
      operationId: 'removeMember',
      method: 'delete',
      path: '/sessions/:sessionId/members/:userId',
      summary: 'Remove a member (owners), or leave (yourself)',
      tag: 'Sessions',
      params: z.strictObject({ sessionId: s.externalId, userId: s.externalId }),
      response: 'Removed',
      errors: WRITE,
      handle: ({ engine, user, params }) => engine.removeMember(params.sessionId, params.userId, user.userId),
    }),
    route({
      operationId: 'markSeen',
      method: 'post',
      path: '/sessions/:sessionId/seen',
      summary: 'Mark everything up to a message as seen by the caller',
      tag: 'Sessions',
      params: sessionParams,
      body: z.strictObject({ messageId: s.uuid }),
      response: 'SeenReceipt',
      errors: WRITE,
      handle: ({ engine, user, params, body }) => engine.markSeen(params.sessionId, body.messageId, user.userId),
    }),
    route({
      operationId: 'getPresence',
      method: 'get',
      path: '/sessions/:sessionId/presence',
      summary: 'Every member with their online status',
      tag: 'Presence',
      params: sessionParams,
      response: 'PresenceList',
      handle: async ({ engine, user, params }) => ({ presence: await engine.getPresence(params.sessionId, user.userId) }),
    }),

    // ---- messages --------------------------------------------------------------------------
    route({
      operationId: 'createMessage',
      method: 'post',
      path: '/messages',
      summary: 'Send a message as the caller (a retry with the same clientMessageId returns the first one)',
      tag: 'Messages',
      body: s.createMessage.omit({ userId: true }),
      status: 201,
      response: 'Message',
      errors: WRITE,
      handle: ({ engine, user, body }) => engine.createMessage({ ...body, userId: user.userId }),
    }),
    route({
      operationId: 'getMessageHistory',
      method: 'get',
      path: '/sessions/:sessionId/messages',
      summary: 'A page of history, ascending; offset counts from the newest; before/after are seq cursors',
      tag: 'Messages',
      params: sessionParams,
      query: s.historyOptions,
      response: 'MessagePage',
      handle: ({ engine, user, params, query }) => engine.getMessageHistory(params.sessionId, user.userId, query),
    }),
    route({
      operationId: 'getMessage',
      method: 'get',
      path: '/messages/:messageId',
      summary: 'A message',
      tag: 'Messages',
      params: messageParams,
      response: 'Message',
      handle: ({ engine, user, params }) => engine.getMessage(params.messageId, user.userId),
    }),
    route({
      operationId: 'editMessage',
      method: 'put',
      path: '/messages/:messageId',
      summary: "Replace a message's text (its author only)",
      tag: 'Messages',
      params: messageParams,
      body: z.strictObject({ content: s.content }),
      response: 'Message',
      errors: [409, ...WRITE],
      handle: ({ engine, user, params, body }) => engine.editMessage(params.messageId, body.content, user.userId),
    }),
    route({
      operationId: 'deleteMessage',
      method: 'delete',
      path: '/messages/:messageId',
      summary: 'Soft-delete a message (its author or an owner; idempotent); returns the deleted message',
      tag: 'Messages',
      params: messageParams,
      response: 'Message',
      errors: WRITE,
      handle: ({ engine, user, params }) => engine.deleteMessage(params.messageId, user.userId),
    }),
    route({
      operationId: 'getThreadMessages',
      method: 'get',
      path: '/messages/:messageId/thread',
      summary: 'The replies to a message, oldest first (the latest 500; page longer threads with history)',
      tag: 'Threads',
      params: messageParams,
      response: 'MessageList',
      handle: async ({ engine, user, params }) => ({ messages: await engine.getThreadMessages(params.messageId, user.userId) }),
    }),
    route({
      operationId: 'searchMessages',
      method: 'get',
      path: '/sessions/:sessionId/search',
      summary: 'Whole-word, case-insensitive search, newest first',
      tag: 'Search',
      params: sessionParams,
      query: s.searchOptions.extend({ query: s.searchQuery }),
      response: 'SearchPage',
      handle: ({ engine, user, params, query: { query, ...page } }) =>
        engine.searchMessages(params.sessionId, user.userId, query, page),
    }),

    // ---- reactions -------------------------------------------------------------------------
    route({
      operationId: 'toggleReaction',
      method: 'post',
      path: '/messages/:messageId/reactions',
      summary: "Add, remove or toggle (default) the caller's reaction",
      tag: 'Reactions',
      params: messageParams,
      body: z.strictObject({ emoji: s.emoji, action: s.reactionAction.optional() }),
      response: 'ReactionResult',
      errors: [409, ...WRITE],
      handle: ({ engine, user, params, body }) => engine.toggleReaction(params.messageId, user.userId, body.emoji, body.action),
    }),
    route({
      operationId: 'getMessageReactions',
      method: 'get',
      path: '/messages/:messageId/reactions',
      summary: "A message's reactions",
      tag: 'Reactions',
      params: messageParams,
      response: 'ReactionList',
      handle: async ({ engine, user, params }) => ({ reactions: await engine.getMessageReactions(params.messageId, user.userId) }),
    }),

    // ---- attachments -----------------------------------------------------------------------
    route({
      operationId: 'addAttachment',
      method: 'post',
      path: '/messages/:messageId/attachments',
      summary: "Attach a file's metadata to a message (its author only; the bytes live elsewhere)",
      tag: 'Attachments',
      params: messageParams,
      body: s.attachment,
      status: 201,
      response: 'Attachment',
      errors: [409, ...WRITE],
      handle: ({ engine, user, params, body }) => engine.addAttachment(params.messageId, body, user.userId),
    }),
    route({
      operationId: 'getAttachments',
      method: 'get',
      path: '/messages/:messageId/attachments',
      summary: "A message's attachments",
      tag: 'Attachments',
      params: messageParams,
      response: 'AttachmentList',
      handle: async ({ engine, user, params }) => ({ attachments: await engine.getAttachments(params.messageId, user.userId) }),
    }),
    route({
      operationId: 'deleteAttachment',
      method: 'delete',
      path: '/attachments/:attachmentId',
      summary: "Remove an attachment (the message's author only); returns what was removed",
      tag: 'Attachments',
      params: z.strictObject({ attachmentId: s.uuid }),
      response: 'Attachment',
      errors: WRITE,
      handle: ({ engine, user, params }) => engine.deleteAttachment(params.attachmentId, user.userId),
    }),

    // ---- LLM streams: the answer's text arrives over the socket (stream:chunk); REST starts,
    // stops and inspects streams.
    route({
      operationId: 'startStream',
      method: 'post',
      path: '/sessions/:sessionId/streams',
      summary: 'Ask an agent: stores the prompt as the caller’s message and streams the answer into a new assistant message',
      tag: 'Streams',
      params: sessionParams,
      body: s.streamRequest.omit({ sessionId: true, userId: true }),
      status: 201,
      response: 'StreamStart',
      errors: [...WRITE],
      handle: ({ engine, user, params, body }) => engine.requestStream({ ...body, sessionId: params.sessionId, userId: user.userId }),
    }),
    route({
      operationId: 'stopStream',
      method: 'post',
      path: '/streams/:streamId/stop',
      summary: 'Stop a stream, keeping its partial answer (the requester or a session owner)',
      tag: 'Streams',
      params: streamParams,
      response: 'StreamStatus',
      errors: WRITE,
      handle: ({ engine, user, params }) => engine.stopStream(params.streamId, user.userId),
    }),
    route({
      operationId: 'getStreamStatus',
      method: 'get',
      path: '/streams/:streamId/status',
      summary: 'Status of a stream, during and after it',
      tag: 'Streams',
      params: streamParams,
      response: 'StreamStatus',
      handle: ({ engine, user, params }) => engine.getStreamStatus(params.streamId, user.userId),
    }),
    route({
      operationId: 'getStreamMetrics',
      method: 'get',
      path: '/streams/:streamId/metrics',
      summary: 'Metrics of a stream: tokens, tokens/s, latency to first token, bandwidth, errors',
      tag: 'Streams',
      params: streamParams,
      response: 'StreamMetrics',
      handle: ({ engine, user, params }) => engine.getStreamMetrics(params.streamId, user.userId),
    }),
    // ---- users ----------------------------------------------------------------------------------
    route({
      operationId: 'getUsers',
      method: 'get',
      path: '/users',
      summary: 'Display names and avatars of up to 100 users, in the order asked; ids without a profile are left out',
      tag: 'Users',
      query: z.strictObject({
        ids: z
          .string()
          // The whole rule as one pattern, so the document is as strict as the validation.
          .regex(USER_ID_LIST, `must be 1-${MAX_USER_LOOKUP} user ids separated by commas`)
          .describe(`Comma-separated user ids, at most ${MAX_USER_LOOKUP}`)
          .transform((ids) => ids.split(','))
          .pipe(s.userIds),
      }),
      response: 'UserList',
      handle: async ({ engine, query }) => ({ users: await engine.getUsers(query.ids) }),
    }),
  ];
}
