/**
 * The integration example as a typed `socket.io-client` script, against a running
 * reference app (`npm start`, demo mode):
 *
 *   npx tsx examples/client.ts                      # http://localhost:3000
 *   npx tsx examples/client.ts http://localhost:4000
 *   PARLEY_URL=http://chat.example.com npx tsx examples/client.ts
 *
 * It signs in through the demo route, creates a session over REST, joins it, sends a message,
 * shows a typing indicator, asks the assistant and prints the answer as it streams. It exits 0 when
 * the answer completes, 1 on any failure. Everything is typed by parley's own event maps.
 */
import { io, type Socket } from 'socket.io-client';
import type { AckResponse, ClientToServerEvents, ServerToClientEvents } from 'parley-chat/socket.io';
import type { Session } from 'parley-chat';

const baseUrl = (process.argv[2] ?? process.env.PARLEY_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
const name = process.env.PARLEY_NAME ?? 'Integration Example';
const TIMEOUT_MS = Number(process.env.PARLEY_TIMEOUT_MS ?? 60_000);

type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The ack's data, or a thrown error carrying the server's code. */
function unwrap<T>(response: AckResponse<T>): T {
  if (!response.ok) throw new Error(`${response.error.code}: ${response.error.message}`);
  return response.data;
}

async function post<T>(path: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  const data = (await response.json()) as T & { error?: { code: string; message: string } };
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${data.error?.code ?? ''} ${data.error?.message ?? ''}`);
  return data;
}

async function main(): Promise<void> {
  // 1. A token. Demo mode only: in your app, your own login issues it (a JWT with sub = user id).
  const { token, userId } = await post<{ token: string; userId: string }>('/demo/sign-in', { name });
  console.log(`signed in as ${userId}`);

  // 2. A session to talk in (sessions belong to the host app; REST creates one with us as owner).
  const session = await post<Session>('/api/chat/sessions', { title: 'Integration example' }, token);
  const sessionId = session.id;
  console.log(`session ${sessionId}`);

  // 3. Connect to the /chat namespace. Identity comes only from the token.
  const socket: ChatSocket = io(`${baseUrl}/chat`, { auth: { token }, transports: ['websocket'] });
  const lastSeq = new Map<string, number>();

  socket.on('connect_error', (error) => {
    fail(`connection refused: ${error.message}`);
  });
  socket.on('message:new', (message) => {
    lastSeq.set(message.sessionId, Math.max(lastSeq.get(message.sessionId) ?? 0, message.changeSeq));
    const who = message.role === 'assistant' ? 'assistant' : message.userId;
    console.log(`New message (#${message.seq}) from ${who}: ${message.content || '…'}`);
  });
  socket.on('typing:start', ({ userId: typist, name: typistName }) => console.log(`${typistName ?? typist} is typing…`));

  let streamed = '';
  const finished = new Promise<void>((resolve, reject) => {
    socket.on('stream:chunk', (chunk) => {
      streamed += chunk.delta;
      process.stdout.write(chunk.delta);
    });
    socket.on('stream:complete', ({ content, metrics }) => {
      process.stdout.write('\n');
      if (content !== streamed) return reject(new Error('the chunks do not add up to the final content'));
      console.log(
        `stream complete: ${metrics.totalTokens} tokens, ${metrics.tokensPerSecond.toFixed(1)} tokens/s, ` +
          `first token after ${metrics.latency ?? '?'} ms`,
      );
      resolve();
    });
    socket.on('stream:error', ({ code, message }) => reject(new Error(`stream failed: ${code} ${message}`)));
    socket.on('stream:stopped', () => reject(new Error('stream stopped')));
  });

  await new Promise<void>((resolve) => socket.once('connect', resolve));
  console.log(`connected as socket ${socket.id}`);

  // Join session (re-join with the highest seq seen after a reconnect: the server replays what was missed).
  socket.on('connect', () => socket.emit('session:join', { sessionId, lastSeq: lastSeq.get(sessionId) }, () => {}));
  const joined = unwrap(await socket.emitWithAck('session:join', { sessionId }));
  console.log(`joined "${joined.session.title}" with ${joined.members.length} member(s)`);

  // Send message (a clientMessageId makes a retry safe).
  const sent = unwrap(
    await socket.emitWithAck('message:send', { sessionId, content: 'Hello everyone!', attachments: [], clientMessageId: crypto.randomUUID() }),
  );
  console.log(`sent message ${sent.id}`);

  // Start typing indicator (the name shown is the token's; userName is only a fallback).
  unwrap(await socket.emitWithAck('typing:start', { sessionId, userName: 'John Doe' }));

  // Request LLM stream; the answer arrives as stream:chunk events to everyone in the session.
  const { streamId } = unwrap(
    await socket.emitWithAck('stream:request', { sessionId, prompt: 'Explain quantum computing', config: { temperature: 0.7 } }),
  );
  console.log(`stream ${streamId}:`);

  await finished;
  socket.disconnect();
}

function fail(message: string): never {
  console.error(`client: ${message}`);
  process.exit(1);
}

const timer = setTimeout(() => fail(`no complete answer within ${TIMEOUT_MS} ms`), TIMEOUT_MS);
main().then(
  () => {
    clearTimeout(timer);
    process.exit(0);
  },
  (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
);
