import type { Server } from 'socket.io';
import type { Authenticate } from '../../src/auth/jwt.js';
import type { ChatEngine } from '../../src/engine.js';
import { ChatError, isServerFault } from '../../src/errors.js';
import { log } from '../../src/logger.js';
import type { PresenceStatus } from '../../src/model.js';
import type { Transport } from '../../src/ports/transport.js';
import type { BindingContext, ErrorReporter } from './context.js';
import type { ChatNamespace, ChatSocket } from './sockets.js';
import { background } from './context.js';
import { joinedAtOf, markJoined, SocketState, sessionRoom, setState, stateOf, userRoom } from './sockets.js';
import { changeOf, deliverDomainEvents } from './delivery.js';
import type { ClientEventName } from './events.js';
import { CLIENT_EVENTS, dispatch } from './handlers.js';
import { adopt, connectError, verifyHandshake, type VerifiedUser } from './handshake.js';
import { ConnectionGate, SessionCursor, type GatedConnection } from './outbound-gate.js';
import { OutboundLimit, type LimitedConnection } from './outbound-limit.js';
import { buildPayloadSchemas } from './payloads.js';
import { NodeRoster } from './node-roster.js';
import { PresenceTracker } from './presence.js';
import { compactAnyListeners } from './private-fields.js';
import { socketDisconnected } from './sessions.js';
import { watchUpgrades, type UpgradeSource } from './tcp-socket.js';
import { TokenExpiry } from './token-expiry.js';
import { TypingTracker } from './typing.js';

export interface AttachChatOptions {
  /** Verifies `handshake.auth.token` (e.g. `jwtAuthenticator({ secret })`); the same function the REST router takes. */
  authenticate: Authenticate;
  /** Default `'/chat'`. */
  namespace?: string;
  /**
   * Largest client payload, in bytes of its strings and buffers (default 64 KiB); bigger ones get a
   * VALIDATION error. The whole frame is capped earlier by the host's `maxHttpBufferSize` (1 MB by default).
   */
  maxPayloadBytes?: number;
  /** A typing indicator ends after this long without a refresh (default 5000 ms). */
  typingTimeoutMs?: number;
  /**
   * In a cluster, how often this node tells the others which users it holds sockets for (default
   * 10000 ms). A node not heard from for three of these is taken for dead, and one survivor sends
   * the `user:left` and `presence:update` offline its sockets' disconnects would have sent. A lone
   * node sends nothing.
   */
  nodeHeartbeatMs?: number;
  /**
   * How long a socket whose token expired stays connected to send `auth:refresh` with a new one
   * (default 30000 ms). From the expiry on, every other event is refused with UNAUTHORIZED and the
   * socket gets `auth:expired`; when the grace ends without a refresh it is disconnected. A grace
   * lets a client that was asleep or offline at its refresh time recover without reconnecting.
   */
  authExpiryGraceMs?: number;
  /**
   * Most bytes the server may hold queued for one connection (default 8 MiB); past it the
   * connection is closed and what was queued for it freed. A client that stops reading would
   * otherwise make the server hold everything sent to it. The default fits a slow client catching
   * up a full replay (100 messages of 10,000 characters, even in 3-byte scripts, is ~3 MB) with room to spare.
   */
  maxBufferedBytes?: number;
  /** Failures nobody else hears about (default: the engine's `logger`). Never given a token. */
  onError?: ErrorReporter;
}

/** What `attachChat` returns: the engine's `Transport` (from `parley-chat`), registered on it already. */
export interface ChatBinding extends Transport {
  readonly namespace: ChatNamespace;
  getPresence(userIds: readonly string[]): Promise<Map<string, { status: PresenceStatus; lastSeenAt: string | null }>>;
  /** Stops delivering and refuses new connections; sockets stay connected (close the host's server to end them). */
  close(): Promise<void>;
}

const ATTACHED = Symbol.for('parley.socket.io.attached');

/** How long the node running a stream waits for its final commit before answering a remote stop. */
const STOP_COMMIT_WAIT_MS = 1000;
/** How long a stop waits for another node to claim the stream (longer than the wait above). */
const STOP_CLAIM_TIMEOUT_MS = 1500;

/** The engine's logger, unless the host gave `onError`: one place for every failure's detail. */
const reporterFor =
  (engine: ChatEngine): ErrorReporter =>
  (error, context) =>
    log(engine.logger, 'error', { err: error, ...context }, `[parley-chat/socket.io] ${context.what} failed`);

/**
 * Serves Parley's chat protocol (docs/protocol.md) on the host's own Socket.io server, in one namespace:
 * handshake authentication, every client event with its ack, delivery of the engine's domain events
 * to rooms `session:<id>` / `user:<id>`, presence, typing, durable replay on join. Registers itself
 * as the engine's transport, so messages written through REST or a job reach sockets too.
 *
 * Works with any Socket.io adapter: deliveries are room broadcasts (sent once, by the node that
 * committed the change) and presence is counted with `fetchSockets()`. If you enable Socket.io's
 * connection state recovery, leave `skipMiddlewares: false` so tokens are checked again on
 * recovery (a recovered socket whose handshake was not re-checked is verified again, and dropped
 * if its token no longer passes).
 *
 * Client events are read with one `socket.onAny` listener (cheaper per idle socket than nine), which
 * runs before per-packet `socket.use` middleware: put connection checks in `nsp.use` and per-action
 * rules in the engine's `authorize`.
 *
 * ```ts
 * import { Server } from 'socket.io';
 * import { ChatEngine, MemoryStorage, jwtAuthenticator } from 'parley-chat';
 * import { attachChat } from 'parley-chat/socket.io';
 *
 * const engine = new ChatEngine({ storage: new MemoryStorage() });
 * await engine.init();
 * const io = new Server(httpServer, { cors: { origin: 'https://app.example.com' } });
 * attachChat(io, engine, { authenticate: jwtAuthenticator({ secret: process.env.JWT_SECRET! }) });
 * // clients: io('https://chat.example.com/chat', { auth: { token } })
 * ```
 */
export function attachChat(io: Pick<Server, 'of'>, engine: ChatEngine, options: AttachChatOptions): ChatBinding {
  const namespace = options?.namespace ?? '/chat';
  if (typeof options?.authenticate !== 'function') throw new ChatError('VALIDATION', 'attachChat needs an `authenticate` function');
  if (typeof namespace !== 'string' || !namespace.startsWith('/')) throw new ChatError('VALIDATION', 'attachChat: `namespace` must start with "/"');
  const maxPayloadBytes = positive(options.maxPayloadBytes, 64 * 1024, 'maxPayloadBytes');
  const typingTimeoutMs = positive(options.typingTimeoutMs, 5000, 'typingTimeoutMs');
  const nodeHeartbeatMs = positive(options.nodeHeartbeatMs, 10_000, 'nodeHeartbeatMs');
  const authExpiryGraceMs = nonNegative(options.authExpiryGraceMs, 30_000, 'authExpiryGraceMs');
  const maxBufferedBytes = positive(options.maxBufferedBytes, 8 * 1024 * 1024, 'maxBufferedBytes');
  const report = options.onError ?? reporterFor(engine);
  const { authenticate } = options;

  const nsp = io.of(namespace) as unknown as ChatNamespace & { [ATTACHED]?: true };
  if (nsp[ATTACHED]) throw new ChatError('CONFLICT', `attachChat: namespace ${namespace} already has a chat attached`);
  nsp[ATTACHED] = true;
  // To find the TCP socket of a connection that upgrades from polling to WebSocket (for corking).
  const engineServer = (nsp.server as { engine?: Partial<UpgradeSource> } | undefined)?.engine;
  if (typeof engineServer?.on === 'function') watchUpgrades(engineServer as UpgradeSource);

  const presence = new PresenceTracker(nsp, engine);
  const ctx: BindingContext = {
    engine,
    nsp,
    authenticate,
    expiry: new TokenExpiry(authExpiryGraceMs, {
      expired: (state) => {
        state.socket.emit('auth:expired', { expiredAt: new Date(state.authExpiresAt).toISOString() });
      },
      // A namespace disconnect: the client learns it was the server ("io server disconnect") and
      // does not reconnect on its own with the token that expired.
      graceOver: (state) => {
        state.socket.disconnect();
      },
    }),
    schemas: buildPayloadSchemas(engine.schemas),
    maxPayloadBytes,
    typingTimeoutMs,
    presence,
    typing: new TypingTracker(engine, typingTimeoutMs, (error) => background(ctx, 'typing', Promise.reject(error))),
    report,
    closed: false,
  };
  const outboundLimit = new OutboundLimit(maxBufferedBytes, (conn, heldBytes, maxBytes) => {
    // Not an error of the server's nor one the other members hear of: the log says who and why.
    for (const socket of nsp.sockets.values()) {
      if ((socket.conn as unknown as LimitedConnection) !== conn) continue;
      report(
        new ChatError('LIMIT_EXCEEDED', `Disconnected a client that is not reading: ${heldBytes} bytes queued for it, over maxBufferedBytes (${maxBytes})`),
        { what: 'outbound limit', socketId: socket.id, userId: socket.data.userId },
      );
    }
  });
  const unsubscribe = deliverDomainEvents(ctx);
  const roster = new NodeRoster(ctx, nodeHeartbeatMs);
  roster.start();

  // One shared catch-all listener (`this` is the socket) instead of one listener per event: nine
  // more entries in every socket's listener table cost ~400 bytes per idle connection. Unknown
  // event names are ignored. Note: `onAny` runs before per-packet `socket.use` middleware, so checks
  // belong in `nsp.use` (handshake) or the engine's `authorize`.
  const clientEvents = new Set<string>(CLIENT_EVENTS);
  function onClientEvent(this: ChatSocket, event: string, ...args: unknown[]): void {
    if (clientEvents.has(event)) dispatch(ctx, this, event as ClientEventName, args);
  }
  // A broadcast hands the same payload to every socket of the room: read it once, not once per socket.
  let lastEvent = '';
  let lastPayload: unknown;
  let lastChange: { sessionId: string; seq: number } | null = null;
  function tagOutgoing(this: ChatSocket, event: string, payload: unknown): void {
    const state = stateOf(this);
    if (!state) return;
    if (payload !== lastPayload || event !== lastEvent) {
      lastEvent = event;
      lastPayload = payload;
      lastChange = changeOf(event, payload);
    }
    const cursor = lastChange === null ? undefined : state.sessions.get(lastChange.sessionId);
    if (cursor === undefined) {
      state.gate.nextCursor = null;
    } else {
      state.gate.nextCursor = cursor;
      state.gate.nextSeq = lastChange!.seq;
    }
  }
  function onSocketError(this: ChatSocket, error: unknown): void {
    // A client can emit an event named "error" with any payload: report that it happened, not what it said.
    report(error instanceof Error ? error : new Error('socket error event'), { what: 'socket error', socketId: this.id, userId: this.data.userId });
  }
  function onDisconnecting(this: ChatSocket, reason: string): void {
    // Still in its rooms here; the clean-up runs after Socket.io took it out of them (same tick).
    const state = stateOf(this);
    if (!state) return;
    ctx.expiry.forget(state);
    background(ctx, 'disconnect', socketDisconnected(ctx, state, reason, new Set(this.rooms)), { userId: state.userId });
  }

  // From the middleware to the connection handler; the entry goes once the socket is set up.
  const verified = new WeakMap<object, VerifiedUser>();
  nsp.use((socket, next) => {
    verifyHandshake(ctx, authenticate, socket).then(
      (user) => {
        adopt(socket, user);
        verified.set(socket, user);
        next();
      },
      (error: unknown) => {
        // The host's authenticate failing (its JWKS unreachable, a bug) is not the client's fault.
        if (isServerFault(error)) report(error, { what: 'handshake', socketId: socket.id });
        next(connectError(error));
      },
    );
  });

  const setup = (socket: ChatSocket, user: VerifiedUser) => {
    const gate = ConnectionGate.of(socket.conn as unknown as GatedConnection);
    gate.limitTo(outboundLimit);
    const state = new SocketState(socket, gate);
    setState(socket, state);
    // Also on a recovered connection: the expiry is the token's it presented now.
    ctx.expiry.set(state, user.expiresAt);
    gate.join(state.sessions);
    socket.onAnyOutgoing(tagOutgoing as (...args: any[]) => void);
    socket.onAny(onClientEvent);
    compactAnyListeners(socket);
    socket.on('error', onSocketError);
    socket.on('disconnecting', onDisconnecting);
    if (socket.recovered) {
      // Socket.io restored the rooms and re-sent what was missed; track the sessions again.
      for (const room of socket.rooms) {
        if (!room.startsWith('session:')) continue;
        const sessionId = room.slice('session:'.length);
        const cursor = new SessionCursor(joinedAtOf(socket.data, sessionId) ?? Date.now());
        cursor.floor = 0;
        state.sessions.set(sessionId, cursor);
        markJoined(socket.data, sessionId, cursor.joinedAt);
      }
    }
    const { userId } = socket.data;
    const inUserRoom = socket.join(userRoom(userId)); // synchronous with the default adapter
    socket.emit('connection:success', { userId, socketId: socket.id, serverTime: new Date().toISOString() });
    background(
      ctx,
      'connect',
      state.serial(async () => {
        await inUserRoom;
        // Before the announcement, so it carries the name. A profile that cannot be kept (a name
        // the engine refuses, storage trouble) must not cost the user the connection.
        await engine.rememberUser(user).catch((error: unknown) => log(engine.logger, 'warn', { err: error, userId }, '[parley-chat/socket.io] user profile not saved'));
        if (await presence.isFirstConnection(socket)) await presence.announce(userId, 'online');
      }),
      { userId },
    );
  };

  nsp.on('connection', (socket) => {
    try {
      const user = verified.get(socket);
      if (user) {
        verified.delete(socket);
        return setup(socket, user);
      }
      // The middleware was skipped (connection state recovery with `skipMiddlewares: true`): check
      // the token anyway. A refusal is a namespace disconnect ("io server disconnect"), after which
      // a client does not retry on its own: it needs a new token.
      verifyHandshake(ctx, authenticate, socket).then(
        (user) => {
          adopt(socket, user);
          if (socket.connected) setup(socket, user);
        },
        () => socket.disconnect(),
      );
    } catch (error) {
      report(error, { what: 'connection', socketId: socket.id });
      socket.disconnect();
    }
  });

  // A stop for a stream this node may run, sent by the node that received it (any adapter). The
  // answer says whether this node ran it, once its final status is committed.
  nsp.on('parley:stream-stop', (streamId: unknown, answer?: unknown) => {
    const ack = typeof answer === 'function' ? (answer as (claimed: boolean) => void) : () => {};
    if (typeof streamId !== 'string') return ack(false);
    engine.stopLocalStreamAndWait(streamId, STOP_COMMIT_WAIT_MS).then(ack, (error: unknown) => {
      report(error, { what: 'stream stop from another node' });
      ack(false);
    });
  });

  const binding: ChatBinding = {
    namespace: nsp,
    getPresence: (userIds) => presence.getPresence(userIds),
    requestStop: async (streamId) => {
      // The in-memory adapter has no other nodes (and warns on serverSideEmit): only cluster adapters.
      if ((await nsp.adapter.serverCount()) <= 1) return false;
      // An adapter waits for every node it counts, 5 s by default, and a node that died may still be
      // counted until its heartbeats time out: give up sooner and let the engine take the stream over.
      const answers = nsp.serverSideEmitWithAck('parley:stream-stop', streamId);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => (timer = setTimeout(resolve, STOP_CLAIM_TIMEOUT_MS, null)));
      try {
        const claims = await Promise.race([answers.catch((error: { responses?: unknown }) => error?.responses ?? null), late]);
        return Array.isArray(claims) && claims.some((claimed) => claimed === true);
      } finally {
        clearTimeout(timer);
        answers.catch(() => {}); // settles later, when the adapter gives up on silent nodes
      }
    },
    close: async () => {
      ctx.closed = true;
      unsubscribe();
      roster.stop();
      ctx.typing.close();
      ctx.expiry.close();
    },
  };
  engine.useTransport(binding);
  return binding;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ChatError('VALIDATION', `attachChat: \`${name}\` must be a number of 0 or more`);
  }
  return value;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ChatError('VALIDATION', `attachChat: \`${name}\` must be a positive number`);
  }
  return value;
}

export { sessionRoom, userRoom };
