import { defineTool, ScriptedProvider } from 'parley-chat';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startNode, type ClusterNode } from '../../examples/cluster/node.js';
import { PG_URL } from '../support/postgres.js';
import { closeAllTabs, connectTab, createSession, missingServices, REDIS_URL, RunResources, SECRET, sleep } from './harness.js';

/**
 * Two nodes (in this process, sharing the real Postgres and Redis) whose assistant has a tool that
 * runs until it is aborted: a stop sent to the node that does not run the answer reaches the tool.
 */
const skipReason = await missingServices();

describe.skipIf(skipReason)('a stop of an answer whose tool is running, sent to the other node', () => {
  const resources = new RunResources();
  const nodes: ClusterNode[] = [];
  const aborted: { at: number; node: string }[] = [];
  let toolStarted!: () => void;
  const started = new Promise<void>((resolve) => (toolStarted = resolve));

  beforeAll(async () => {
    for (const name of ['a', 'b']) {
      const waitForStop = defineTool({
        description: 'Waits until the answer is stopped',
        input: z.object({}),
        execute: (_, { signal }) =>
          new Promise((_, reject) => {
            toolStarted();
            signal.addEventListener('abort', () => {
              aborted.push({ at: Date.now(), node: name });
              reject(signal.reason);
            });
          }),
      });
      nodes.push(
        await startNode({
          port: 0,
          jwtSecret: SECRET,
          databaseUrl: PG_URL,
          databaseSchema: resources.schema,
          redisUrl: REDIS_URL,
          redisPrefix: resources.redisPrefix,
          nodeId: `tool-stop-${name}`,
          llm: new ScriptedProvider({ tokensPerSecond: 0 }),
          agents: { assistant: { tools: { waitForStop } } },
        }),
      );
    }
  }, 30_000);
  afterAll(async () => {
    closeAllTabs();
    await sleep(300); // the nodes hear of the disconnects (presence goes through Redis) before Redis closes
    for (const node of nodes) await node.close();
    await resources.dispose();
  });

  it('the tool\'s signal aborts within a second on the node that runs it, and the answer is stopped', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const sessionId = await createSession(a, 'erin', ['frank']);
    const erinOnA = await connectTab(a, 'erin');
    const erinOnB = await connectTab(b, 'erin');
    const frankOnB = await connectTab(b, 'frank');
    for (const tab of [erinOnA, erinOnB, frankOnB]) expect((await tab.call('session:join', { sessionId })).ok).toBe(true);

    const ack = await erinOnA.call('stream:request', { sessionId, prompt: 'Please wait for me' });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    const { streamId } = ack.data;
    await started;
    const [call] = await frankOnB.received.waitFor('stream:chunk', 1, (c) => c.id === streamId && c.part?.type === 'tool-call');
    expect(call.part).toMatchObject({ toolName: 'waitForStop' });

    const stoppedAt = Date.now();
    expect((await erinOnB.call('stream:stop', { streamId })).ok).toBe(true); // node b does not run it
    expect(aborted).toHaveLength(1);
    expect(aborted[0]!.node).toBe('a');
    expect(aborted[0]!.at - stoppedAt).toBeLessThan(1000);
    const [stopped] = await frankOnB.received.waitFor('stream:stopped', 1, (e) => e.streamId === streamId);
    expect(stopped).toMatchObject({ streamId, sessionId });
  });
});
