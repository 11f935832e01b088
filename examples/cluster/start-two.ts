/**
 * Demo: two Parley nodes on ports 3001 and 3002, sharing Postgres (DATABASE_URL) and Redis
 * (REDIS_URL), without npm:
 *
 *   npx tsx examples/cluster/start-two.ts        (or: node --import tsx examples/cluster/start-two.ts)
 *
 * Without JWT_SECRET a random one is made for this demo and tokens for `alice` and `bob` are printed.
 * Ctrl-C stops both nodes gracefully; if this process dies, the nodes exit too (their stdin closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ports = (process.env.PORTS ?? '3001,3002').split(',').map((p) => p.trim());
const demoSecret = !process.env.JWT_SECRET;
const secret = process.env.JWT_SECRET ?? randomBytes(32).toString('hex');

const children: ChildProcess[] = ports.map((port, i) => {
  const name = `node-${i + 1}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cluster/node.ts'], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PORT: port, JWT_SECRET: secret, NODE_ID: process.env.NODE_ID_PREFIX ? `${process.env.NODE_ID_PREFIX}-${name}` : '', PARLEY_EXIT_WITH_PARENT: '1' },
  });
  const prefix = (data: string) => data.replace(/^(?=.)/gm, `[${name} :${port}] `);
  child.stdout!.setEncoding('utf8').on('data', (d: string) => process.stdout.write(prefix(d)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => process.stderr.write(prefix(d)));
  child.on('exit', (code, signal) => {
    console.log(`[${name}] exited (${signal ?? code})`);
    if (!stopping) stop('SIGTERM'); // one node failing stops the demo
  });
  return child;
});

if (demoSecret) {
  const key = new TextEncoder().encode(secret);
  console.log('DEMO: JWT_SECRET was not set; a random one is used for this run. Tokens (1 h):');
  for (const user of ['alice', 'bob']) {
    const token = await new SignJWT({ sub: user }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key);
    console.log(`  ${user}: ${token}`);
  }
}

let stopping = false;
function stop(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill(signal);
  Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => process.exit(0));
  setTimeout(() => process.exit(1), 12_000).unref();
}
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));
