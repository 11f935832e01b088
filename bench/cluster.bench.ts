/**
 * Scale-out fan-out: `examples/cluster/node.ts` processes on `@socket.io/redis-adapter`, the real
 * Postgres and Redis. A 100-member session; messages are sent with `message:send` (through the engine
 * and Postgres) by 4 sender sockets and delivered to every member's socket.
 *
 * - one node: the 100 members and the senders all on node A (a one-node cluster, same adapter);
 * - two nodes: members and senders split across A and B (each node commits half the messages and
 *   delivers to half the members; every broadcast also crosses Redis).
 *
 * Figure: deliveries per second until every member has every message; best of ROUNDS per side; the
 * ratio is two nodes / one node. All processes (nodes, the client sockets here, Postgres, Redis)
 * share this machine's cores, so the ratio says what a second node costs or gains *on one box*;
 * on separate machines the nodes' CPU would add up.
 */
import type { Socket } from 'socket.io-client';
import { runConcurrently, type BenchRow } from './lib.js';
import { ClusterRun, connect, rest, type BenchNode } from './support/cluster-nodes.js';

const MEMBERS = Number(process.env.BENCH_CLUSTER_MEMBERS ?? 100);
const MESSAGES = Number(process.env.BENCH_CLUSTER_MESSAGES ?? 300);
const ROUNDS = Number(process.env.BENCH_CLUSTER_ROUNDS ?? 2);
const SENDERS = 4;
const IN_FLIGHT = 16;
const UNLIMITED = JSON.stringify(
  Object.fromEntries(['default', 'message:send', 'session:join', 'session:create', 'handshake'].map((a) => [a, { points: 0, durationMs: 60_000 }])),
);

let round = 0;

async function fanout(nodes: BenchNode[], messages: number): Promise<{ deliveriesPerSec: number; messagesPerSec: number }> {
  const r = round++;
  const owner = `sender-${r}`;
  const memberIds = Array.from({ length: MEMBERS }, (_, i) => `r${r}-m${i}`);
  const session = await rest(nodes[0]!.url, owner, 'POST', '/sessions', { memberIds });
  const sockets: Socket[] = [];
  try {
    let delivered = 0;
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => (done = resolve));
    const expected = MEMBERS * messages;
    const members = await Promise.all(memberIds.map((id, i) => connect(nodes[i % nodes.length]!.url, id)));
    sockets.push(...members);
    await Promise.all(
      members.map(async (s) => {
        const ack = await s.timeout(10_000).emitWithAck('session:join', { sessionId: session.id });
        if (!ack.ok) throw new Error(`join: ${JSON.stringify(ack)}`);
        s.on('message:new', () => {
          if (++delivered === expected) done();
        });
      }),
    );
    const senders = await Promise.all(Array.from({ length: SENDERS }, (_, j) => connect(nodes[j % nodes.length]!.url, owner)));
    sockets.push(...senders);
    const start = performance.now();
    await runConcurrently(messages, IN_FLIGHT, async (i) => {
      const ack = await senders[i % SENDERS]!.timeout(30_000).emitWithAck('message:send', { sessionId: session.id, content: `fan-out message ${i} with a few words in it` });
      if (!ack.ok) throw new Error(`send: ${JSON.stringify(ack)}`);
    });
    const timeout = setTimeout(() => done(), 60_000);
    await all;
    clearTimeout(timeout);
    if (delivered !== expected) throw new Error(`delivered ${delivered} of ${expected}`);
    const elapsed = performance.now() - start;
    return { deliveriesPerSec: (expected / elapsed) * 1000, messagesPerSec: (messages / elapsed) * 1000 };
  } finally {
    for (const s of sockets) s.disconnect();
  }
}

async function best(nodes: BenchNode[]): Promise<{ deliveriesPerSec: number; messagesPerSec: number }> {
  await fanout(nodes, Math.min(50, MESSAGES)); // warm-up
  let top = { deliveriesPerSec: 0, messagesPerSec: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    const result = await fanout(nodes, MESSAGES);
    console.error(`  cluster fan-out, ${nodes.length} node(s): ${Math.round(result.deliveriesPerSec)} deliveries/s`);
    if (result.deliveriesPerSec > top.deliveriesPerSec) top = result;
  }
  return top;
}

export default async function clusterBench(): Promise<BenchRow[]> {
  const run = new ClusterRun();
  try {
    const env = { RATE_LIMITS_JSON: UNLIMITED };
    const a = await run.startNode('bench-a', env);
    const one = await best([a]);
    const b = await run.startNode('bench-b', env);
    const two = await best([a, b]);
    await Promise.all([a.stop(), b.stop()]);
    const scenario = `cluster fan-out, ${MEMBERS} members`;
    return [
      {
        scenario,
        metric: 'deliveries/s, 2 nodes (members + senders split)',
        value: two.deliveriesPerSec,
        unit: 'deliv/s',
        baseline: { name: '1 node', value: one.deliveriesPerSec },
        ratio: two.deliveriesPerSec / one.deliveriesPerSec,
        target: 'report (one box: nodes, clients, PG, Redis share cores)',
      },
      {
        scenario,
        metric: 'messages/s committed + fanned out, 2 nodes',
        value: two.messagesPerSec,
        unit: 'msg/s',
        baseline: { name: '1 node', value: one.messagesPerSec },
        ratio: two.messagesPerSec / one.messagesPerSec,
      },
    ];
  } finally {
    await run.dispose();
  }
}
