import { ScriptedProvider } from 'parley-chat';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI, type Transcript } from '../support/fake-openai.js';
import { openaiErrorMidStream } from '../support/transcripts/faults.js';
import { delay, head, shapeFor, write } from '../support/transcripts/shapes.js';
import { closeAll, startChat, type ChatFixture, type Tab } from './harness.js';

/**
 * One final token count everywhere: each end event (`stream:complete`, `stream:stopped`,
 * `stream:error`) carries the count the answer was stored with, to every member — the number the
 * stored message, the status and the metrics report — whatever the chunks counted on the way.
 */
const fakes: FakeOpenAI[] = [];
afterEach(async () => {
  await closeAll();
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

const LONG = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');

async function room(f: ChatFixture, ...users: string[]): Promise<{ sessionId: string; tabs: Tab[] }> {
  const { id: sessionId } = await f.engine.createSession({ createdBy: users[0]!, memberIds: users.slice(1) });
  const tabs: Tab[] = [];
  for (const user of users) {
    const tab = await f.connect(user);
    expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
    tabs.push(tab);
  }
  return { sessionId, tabs };
}

/** The count stored on the answer, and what status and metrics say (all three must agree). */
async function storedCounts(f: ChatFixture, streamId: string, messageId: string) {
  const [message, status, metrics] = await Promise.all([
    f.engine.getMessage(messageId),
    f.engine.getStreamStatus(streamId),
    f.engine.getStreamMetrics(streamId),
  ]);
  return { message: message.tokens, status: status.tokensGenerated, metrics: metrics.totalTokens };
}

/** An OpenAI-style upstream that sends two tokens per delta, so its usage counts twice the deltas. */
function twoTokensPerDelta(words: string[]): Transcript {
  const shape = shapeFor('openai', { includeUsage: true, promptTokens: 12 });
  const deltas: string[] = [];
  for (let i = 0; i < words.length; i += 2) deltas.push(words.slice(i, i + 2).map((w, j) => (i + j === 0 ? w : ` ${w}`)).join(''));
  return {
    name: 'two-tokens-per-delta',
    steps: [
      head(shape.headers),
      ...deltas.flatMap((text, i) => [delay(5), write((i === 0 ? shape.start().join('') : '') + shape.token(text, 2 * (i + 1)))]),
      write(shape.finish('stop', { prompt: 12, completion: words.length }).join('')),
      write(shape.done),
    ],
  };
}

describe('the final token count of a streamed answer', () => {
  it('after a stop, every member’s stream:stopped carries the stored message’s token count', async () => {
    const f = await startChat({ engineOptions: { llm: new ScriptedProvider({ tokensPerSecond: 60, reply: LONG }), streamDelayMs: 50 } });
    const { sessionId, tabs } = await room(f, 'alice', 'bob', 'carol');
    const [alice, bob, carol] = tabs as [Tab, Tab, Tab];
    const { streamId, messageId } = (await alice.call('stream:request', { sessionId, prompt: 'go' })).data;
    await carol.received.waitFor('stream:chunk', 4);
    expect((await alice.call('stream:stop', { streamId })).ok).toBe(true);

    const stored = await storedCounts(f, streamId, messageId);
    expect(stored.message).toBeGreaterThan(0);
    expect(stored).toEqual({ message: stored.message, status: stored.message, metrics: stored.message });
    for (const tab of [alice, bob, carol]) {
      const [stopped] = await tab.received.waitFor('stream:stopped');
      expect(stopped).toMatchObject({ streamId, messageId, tokens: stored.message });
    }
  });

  it('on completion, stream:complete carries the upstream’s own count, as stored, not the number of deltas', async () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const fake = await startFakeOpenAI({ transcripts: [twoTokensPerDelta(words)] });
    fakes.push(fake);
    const f = await startChat({ engineOptions: { llm: new OpenAICompatibleProvider({ baseURL: fake.baseURL, model: 'two-tokens-per-delta' }) } });
    const { sessionId, tabs } = await room(f, 'alice', 'bob');
    const { streamId, messageId } = (await tabs[0]!.call('stream:request', { sessionId, prompt: 'go' })).data;
    for (const tab of tabs) {
      const [complete] = await tab.received.waitFor('stream:complete', 1, () => true, 10_000);
      expect(complete).toMatchObject({ streamId, content: words.join(' '), tokens: 40, finishReason: 'stop', metrics: { totalTokens: 40 } });
    }
    expect(await storedCounts(f, streamId, messageId)).toEqual({ message: 40, status: 40, metrics: 40 });
  });

  it('after an upstream failure mid-answer, stream:error carries the kept partial answer’s stored count', async () => {
    const fake = await startFakeOpenAI({ transcripts: [openaiErrorMidStream] });
    fakes.push(fake);
    const f = await startChat({ engineOptions: { llm: new OpenAICompatibleProvider({ baseURL: fake.baseURL, model: openaiErrorMidStream.name }) } });
    const { sessionId, tabs } = await room(f, 'alice', 'bob');
    const { streamId, messageId } = (await tabs[0]!.call('stream:request', { sessionId, prompt: 'go' })).data;
    for (const tab of tabs) await tab.received.waitFor('stream:error', 1, () => true, 10_000);
    const stored = await storedCounts(f, streamId, messageId);
    expect(stored.message).toBeGreaterThan(0);
    expect(stored).toEqual({ message: stored.message, status: stored.message, metrics: stored.message });
    for (const tab of tabs) expect(tab.received.of('stream:error')[0]).toMatchObject({ streamId, tokens: stored.message });
  });
});
