import { MemoryStorage, type StorageAdapter } from 'parley-chat';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { openaiError, startFakeOpenAI, type FakeOpenAI, type Transcript } from '../support/fake-openai.js';
import { http429 } from '../support/transcripts/index.js';
import { capturingLogger, closedPort, startFullApp, type FullApp } from './harness.js';

/**
 * What members see when the model cannot answer: a code and a fixed message, on every path (the
 * live `stream:error`, REST's stream status, the stored stream row). What the operator needs —
 * the upstream's host and port, the error number, the HTTP status, the body — goes to the logger.
 */
const SECRET = 'sk-live-7Hq2-internal-db-password=hunter2';

const http500WithSecret: Transcript = {
  name: 'http-500-with-secret',
  steps: [
    {
      type: 'status',
      status: 500,
      headers: { 'content-type': 'application/json' },
      body: openaiError(`upstream worker crashed: ${SECRET} at 10.1.2.3:8443`, 'server_error'),
    },
  ],
};

const apps: FullApp[] = [];
const fakes: FakeOpenAI[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function appWith(baseURL: string, model: string) {
  const logger = capturingLogger();
  const storage = new MemoryStorage();
  const app = await startFullApp({
    engineOptions: {
      storage,
      llm: new OpenAICompatibleProvider({ baseURL, model, apiKey: 'sk-test-key' }),
      streamRetry: { attempts: 2, baseDelayMs: 5, maxTotalMs: 1000 },
      logger,
    },
  });
  apps.push(app);
  return { app, logger, storage };
}

/** Asks for an answer over a socket and returns the `stream:error` every member saw, plus the REST status. */
async function failedAnswer(app: FullApp, storage: StorageAdapter) {
  const alice = await app.socket('alice');
  const bob = await app.socket('bob');
  const sessionId = (await app.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] })).id;
  for (const member of [alice, bob]) expect((await member.call('session:join', { sessionId })).ok).toBe(true);
  const asked = await alice.call('stream:request', { sessionId, prompt: 'hello?' });
  expect(asked.ok).toBe(true);
  const { streamId } = asked.data as { streamId: string };
  const [aliceSaw] = await alice.received.waitFor('stream:error', 1, (e) => e.streamId === streamId);
  const [bobSaw] = await bob.received.waitFor('stream:error', 1, (e) => e.streamId === streamId);
  const rest = await app.rest('alice');
  const status = await rest.get(`/streams/${streamId}/status`);
  const metrics = await rest.get(`/streams/${streamId}/metrics`);
  const stored = await storage.getStream(streamId);
  return { streamId, seen: [aliceSaw, bobSaw], status, metrics, stored };
}

/** Ids and times are random: "429" can be part of one. They are blanked before looking for what must not leak. */
const RANDOM_PARTS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT[\d:.]+Z/gi;

function expectNothingInternal(text: string, internals: string[]): void {
  const shown = text.replace(RANDOM_PARTS, '<random>');
  for (const internal of internals) expect(shown, `leaked ${internal}`).not.toContain(internal);
}

describe('an upstream failure reaches members as a code and a generic message', () => {
  it('an upstream nobody listens on: UNAVAILABLE without host, port or errno; the logger has them', async () => {
    const port = await closedPort();
    const { app, logger, storage } = await appWith(`http://127.0.0.1:${port}/v1`, 'llama3.2');
    const { seen, status, metrics, stored } = await failedAnswer(app, storage);

    for (const event of seen) {
      expect(event).toMatchObject({ code: 'UNAVAILABLE', message: 'The assistant is unavailable right now' });
    }
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ status: 'error' });
    expect(stored).toMatchObject({ status: 'error', errorMessage: 'The assistant is unavailable right now' });
    const visible = JSON.stringify([seen, status.body, metrics.body, stored]);
    expectNothingInternal(visible, [`127.0.0.1:${port}`, `:${port}`, 'ECONNREFUSED', 'fetch failed', 'network error']);

    const logged = logger.text();
    expect(logged).toContain('ECONNREFUSED');
    expect(logged).toContain(`127.0.0.1:${port}`);
    expect(logger.calls.filter((c) => c.level === 'warn').length).toBeGreaterThanOrEqual(1); // the retry
    expect(logger.calls.some((c) => c.level === 'error' && /failed/.test(c.msg ?? ''))).toBe(true);
    expect(logged).not.toContain('sk-test-key');
  });

  it('an upstream answering HTTP 500 with a secret in its body: no status, status text or body reaches members', async () => {
    const fake = await startFakeOpenAI({ transcripts: [http500WithSecret] });
    fakes.push(fake);
    const { app, logger, storage } = await appWith(fake.baseURL, http500WithSecret.name);
    const { seen, status, metrics, stored } = await failedAnswer(app, storage);

    for (const event of seen) {
      expect(event).toMatchObject({ code: 'UNAVAILABLE', message: 'The assistant is unavailable right now' });
    }
    expect(status.body).toMatchObject({ status: 'error' });
    expect(stored!.errorMessage).toBe('The assistant is unavailable right now');
    const visible = JSON.stringify([seen, status.body, metrics.body, stored]);
    expectNothingInternal(visible, [SECRET, 'hunter2', '10.1.2.3', 'HTTP 500', 'Internal Server Error', 'server_error', fake.origin]);

    const logged = logger.text();
    expect(logged).toContain(SECRET);
    expect(logged).toContain('500');
  });

  it("an upstream 429 is the operator's quota, not the member's budget: UNAVAILABLE, not RATE_LIMITED", async () => {
    const fake = await startFakeOpenAI({ transcripts: [http429] });
    fakes.push(fake);
    const { app, logger, storage } = await appWith(fake.baseURL, http429.name);
    const { seen } = await failedAnswer(app, storage);
    for (const event of seen) expect(event).toMatchObject({ code: 'UNAVAILABLE', message: 'The assistant is unavailable right now' });
    expectNothingInternal(JSON.stringify(seen), ['Rate limit reached', 'org-parley', '429']);
    expect(logger.text()).toContain('org-parley');
  });
});
