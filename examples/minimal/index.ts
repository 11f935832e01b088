/**
 * The README's quick start as one runnable file:
 *
 *   npx tsx examples/minimal/index.ts                                   # prints a token to try it
 *   JWT_SECRET=$(openssl rand -hex 32) npx tsx examples/minimal/index.ts
 *
 * Differences from the README, so it runs with nothing else installed: SQLite in a temporary file,
 * and the ScriptedProvider (canned text, NOT a model) instead of an OpenAI-compatible server — swap
 * in the commented line to use one. Listens on PORT (or WEBSOCKET_PORT; default 3000). There is no
 * page and no sign-in: your app issues the JWTs (HS256, `sub` = user id). Without JWT_SECRET this
 * file makes a random secret and prints a token for user "alice" so you can call the API at once.
 */
import express from 'express';
import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { ChatEngine, configFromEnv, jwtAuthenticator, ScriptedProvider, type EnvConfig } from 'parley-chat';
import { SqliteStorage } from 'parley-chat/sqlite'; // or PostgresStorage from 'parley-chat/postgres', MemoryStorage from 'parley-chat'
import { attachChat } from 'parley-chat/socket.io';
import { createChatRouter } from 'parley-chat/express';
// import { OpenAICompatibleProvider } from 'parley-chat/openai';

// PORT (or WEBSOCKET_PORT), CORS_ORIGIN, JWT_SECRET…, validated: a bad value stops here, naming it.
let config: EnvConfig;
try {
  config = configFromEnv();
} catch (error) {
  console.error(`parley: ${(error as Error).message}`);
  process.exit(1);
}
// Your app's JWT secret; a random one (and a printed token) when unset, so the file runs as is.
const demoSecret = config.jwtSecret ? null : randomBytes(32).toString('hex');
if (demoSecret) process.env.JWT_SECRET = demoSecret;
const dataDir = mkdtempSync(join(tmpdir(), 'parley-minimal-'));
const filename = join(dataDir, 'chat.db');
process.once('exit', () => rmSync(dataDir, { recursive: true, force: true })); // a demo's data goes with it

const engine = new ChatEngine({
  storage: new SqliteStorage({ filename }), // PostgresStorage({ connectionString }) | MemoryStorage()
  llm: new ScriptedProvider(), // demo text, not a model
  // llm: new OpenAICompatibleProvider({ baseURL: 'http://localhost:11434/v1', apiKey: process.env.OPENAI_API_KEY, model: 'llama3.2' }),
  agents: { assistant: { systemPrompt: 'You are a helpful assistant.' } },
  authorize: 'members', // 'members' (default) | 'open' | (ctx) => boolean | Promise<boolean>
});
await engine.init(); // migrations; idempotent

const authenticate = jwtAuthenticator({ secret: process.env.JWT_SECRET! }); // HS256, sub = userId
const app = express();
app.use('/api/chat', createChatRouter(engine, { authenticate })); // parses its own JSON bodies
const server = createServer(app);
const io = new Server(server, { cors: { origin: config.corsOrigin } });
attachChat(io, engine, { authenticate }); // namespace '/chat'
const { port } = config;
server.once('error', (error: NodeJS.ErrnoException) => {
  console.error(error.code === 'EADDRINUSE' ? `parley: port ${port} is in use: set PORT=… to another port` : `parley: cannot listen on port ${port}: ${error.message}`);
  process.exit(1);
});
server.listen(port, async () => {
  console.log(`parley (minimal) on http://localhost:${port} (PORT) — REST /api/chat, Socket.io /chat; SQLite ${filename}`);
  if (demoSecret) {
    // What your login would hand out: a short-lived HS256 JWT whose subject is the user id.
    const token = await new SignJWT({ name: 'Alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(demoSecret));
    console.log('JWT_SECRET is not set: using a random one. Try it as "alice":');
    console.log(`  curl -X POST -H 'authorization: Bearer ${token}' -H 'content-type: application/json' \\`);
    console.log(`       -d '{"title":"Hello"}' http://localhost:${port}/api/chat/sessions`);
  }
});

// shutdown: await engine.close() — stops streams (keeping partial answers), flushes, closes storage
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    server.close();
    await engine.close();
    io.close();
    process.exit(0);
  });
}
