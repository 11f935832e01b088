/**
 * The reference app: `npm start` (or `npm run start:dev` to reload on change).
 *
 * Express + the app's own HTTP server + Socket.io + Parley, a browser chat page at `/`, and with no
 * configuration: SQLite in ./data/parley.db, the scripted demo assistant, and a demo sign-in.
 * See `config.ts` for the environment variables.
 */
import { createApp } from './app.js';
import { loadConfig, type AppConfig } from './config.js';

let config: AppConfig;
try {
  config = loadConfig();
} catch (error) {
  console.error(`parley: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const app = await createApp(config);
let url: string;
try {
  url = await app.listen();
} catch (error) {
  // One line that says what to do, not a stack trace.
  console.error(`parley: ${listenFailure(error, config.port)}`);
  process.exit(1);
}

console.log('');
console.log(`  parley reference app  ${url}`);
console.log(`  port       ${config.port} (${config.portFrom === 'default' ? 'default; set PORT to change it' : `from ${config.portFrom}`})`);
console.log(`  storage    ${app.describe.storage}`);
console.log(`  assistant  ${app.describe.llm}`);
console.log(`  auth       ${app.demo ? 'demo sign-in (random secret, reset on restart)' : 'JWT (HS256, JWT_SECRET)'}`);
console.log(`  REST       ${url}/api/chat   (OpenAPI: ${url}/api/chat/openapi.json)`);
console.log(`  Socket.io  ${url}/chat`);
if (app.demo) {
  shout([
    'DEMO SIGN-IN IS ON: JWT_SECRET is not set, so POST /demo/sign-in hands a token to',
    'anyone for any name. It is NOT authentication and exists only in demo mode.',
    'Set JWT_SECRET (>= 32 characters) and issue tokens from your own app to turn it off.',
  ]);
}
if (config.llm.kind === 'scripted') {
  shout([
    'DEMO ASSISTANT: the ScriptedProvider answers with canned text at a fixed pace.',
    'It is NOT a language model. Set OPENAI_BASE_URL (+ OPENAI_API_KEY, OPENAI_MODEL)',
    'to use OpenAI, Ollama, vLLM, llama.cpp or any OpenAI-compatible server.',
  ]);
}
console.log('');
console.log(`  Open ${url} in two browser windows and sign in with two names.`);
console.log('');

/** Why the server could not listen, and what to do about it. */
function listenFailure(error: unknown, port: number): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') return `port ${port} is in use: set PORT=… to another port`;
  if (code === 'EACCES') return `port ${port} needs more privileges: set PORT=… to a port above 1023`;
  return `cannot listen on port ${port}: ${error instanceof Error ? error.message : String(error)}`;
}

/** A warning nobody can miss in a terminal. */
function shout(lines: string[]): void {
  const width = Math.max(...lines.map((line) => line.length));
  const bar = `  ${'!'.repeat(width + 6)}`;
  console.log('');
  console.log(bar);
  for (const line of lines) console.log(`  !! ${line.padEnd(width)} !!`);
  console.log(bar);
}

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    console.log(`parley: ${signal} again, exiting now`);
    process.exit(1);
  }
  stopping = true;
  console.log(`parley: ${signal} received, shutting down (running answers are stopped and kept)…`);
  // A stuck connection must not keep the process alive forever.
  const force = setTimeout(() => {
    console.error('parley: shutdown took over 10 s, exiting');
    process.exit(1);
  }, 10_000);
  force.unref();
  try {
    await app.close();
    console.log('parley: stopped');
    process.exit(0);
  } catch (error) {
    console.error('parley: error during shutdown', error);
    process.exit(1);
  }
}
process.on('SIGINT', (signal) => void shutdown(signal));
process.on('SIGTERM', (signal) => void shutdown(signal));
