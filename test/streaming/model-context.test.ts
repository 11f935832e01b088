import { countTokens } from 'gpt-tokenizer';
import { ChatEngine, defineTool, MemoryStorage, type AgentConfig, type Message } from 'parley-chat';
import { AnthropicProvider } from 'parley-chat/anthropic';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sseTranscript } from '../llm/transcripts/index.js';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { startFakeOpenAI, type RecordedRequest } from '../support/fake-openai.js';

/**
 * What the model is sent, as the local upstream received it: history trimmed to the agent's token
 * budget, author names when several members wrote, earlier tool calls in the provider's own shape.
 */
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const transcripts = {
  openai: { call: sseTranscript('openai-tool-call.sse'), text: sseTranscript('openai-text.sse') },
  anthropic: { call: sseTranscript('anthropic-tool-call.sse'), text: sseTranscript('anthropic-text.sse') },
};

/** A tool call for the first prompt that mentions an order, text for everything else. */
function selectFor(provider: 'openai' | 'anthropic') {
  return (request: RecordedRequest) => {
    const messages = request.body.messages as { role: string; content: unknown }[];
    const last = messages.at(-1)!;
    const asks = last.role === 'user' && JSON.stringify(last.content).includes('A-1042') && !JSON.stringify(last.content).includes('tool_result');
    return asks ? transcripts[provider].call : transcripts[provider].text;
  };
}

async function setup(agent: AgentConfig = {}, provider: 'openai' | 'anthropic' = 'openai') {
  const upstream = await startFakeOpenAI({ transcripts: {}, select: selectFor(provider) });
  cleanup.push(() => upstream.close());
  const llm =
    provider === 'openai'
      ? new OpenAICompatibleProvider({ baseURL: upstream.baseURL, model: 'gpt-4o-mini' })
      : new AnthropicProvider({ baseURL: upstream.origin, apiKey: 'sk-ant-test', model: 'claude-sonnet-4-5' });
  const storage = new MemoryStorage();
  const engine = new ChatEngine({
    storage,
    rateLimits: NO_RATE_LIMITS,
    llm,
    agents: { assistant: { systemPrompt: 'You look orders up.', ...agent } },
    streamDelayMs: 10,
    contextMessages: 100,
  });
  cleanup.push(() => engine.close());
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  const ask = async (prompt: string, userId = 'alice') => {
    const end = new Promise<string>((resolve) => {
      for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) engine.once(event, () => resolve(event));
    });
    await engine.requestStream({ sessionId: session.id, prompt, userId });
    expect(await end).toBe('stream.completed');
    return upstream.requests.at(-1)!.body;
  };
  return { engine, storage, sessionId: session.id, ask, upstream };
}

const lookupOrder = defineTool({ description: 'Order status by id', input: z.object({ orderId: z.string() }), execute: () => ({ status: 'shipped' }) });

describe('the context sent upstream', () => {
  it("is trimmed oldest-first to context.maxTokens: the newest messages that fit, always the system prompt and the prompt", async () => {
    const budget = 400;
    const { engine, sessionId, ask } = await setup({ context: { maxTokens: budget } });
    const history = Array.from({ length: 30 }, (_, i) => `message ${i}: ${'the order is on its way '.repeat(4)}`);
    for (const content of history) await engine.createMessage({ sessionId, userId: 'alice', content });
    const body = await ask('And now?');
    const sent = body.messages as { role: string; content: string }[];
    expect(sent[0]).toEqual({ role: 'system', content: 'You look orders up.' });
    expect(sent.at(-1)).toEqual({ role: 'user', content: 'And now?' });
    const kept = sent.slice(1, -1).map((m) => m.content);
    // The newest ones, in order, and not all of them.
    expect(kept.length).toBeGreaterThan(3);
    expect(kept.length).toBeLessThan(history.length);
    expect(kept).toEqual(history.slice(-kept.length));
    // Within the budget by the tokenizer's own count (4 tokens a message for the chat format), and
    // one more would not have fit.
    const tokens = (texts: string[]) => texts.reduce((sum, t) => sum + countTokens(t) + 4, 0);
    const fixed = tokens(['You look orders up.', 'And now?']);
    expect(fixed + tokens(kept)).toBeLessThanOrEqual(budget);
    expect(fixed + tokens(history.slice(-kept.length - 1))).toBeGreaterThan(budget);
  });

  it('a prompt over the budget alone is still sent, with the system prompt and no history', async () => {
    const { engine, sessionId, ask } = await setup({ context: { maxTokens: 20 } });
    await engine.createMessage({ sessionId, userId: 'alice', content: 'an earlier message' });
    const prompt = 'a prompt of many more words than the budget leaves room for, '.repeat(3);
    const body = await ask(prompt);
    expect(body.messages).toEqual([
      { role: 'system', content: 'You look orders up.' },
      { role: 'user', content: prompt },
    ]);
  });

  it('special-token text in a message is counted as text, never fails the answer', async () => {
    const { engine, sessionId, ask } = await setup({ context: { maxTokens: 1000 } });
    await engine.createMessage({ sessionId, userId: 'alice', content: 'what does <|endoftext|> mean?' });
    const body = await ask('And <|im_start|>?');
    expect(body.messages.map((m: { content: string }) => m.content)).toEqual(['You look orders up.', 'what does <|endoftext|> mean?', 'And <|im_start|>?']);
  });

  it('a context.maxTokens that is not a positive integer fails the request before anything is stored', async () => {
    const { engine, sessionId } = await setup({ context: { maxTokens: 0 } });
    await expect(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' })).rejects.toMatchObject({ code: 'INTERNAL' });
    expect((await engine.getMessageHistory(sessionId, 'alice', { limit: 10, offset: 0 })).total).toBe(0);
  });

  it("with two members writing, each user message carries its author (OpenAI's name; Anthropic: a [name]: prefix); with one, none does", async () => {
    const openai = await setup({ context: { authorName: (id) => (id === 'bob' ? 'Bob B.' : id) } });
    const alone = await openai.ask('Hello');
    expect(alone.messages.filter((m: { role: string }) => m.role === 'user')).toEqual([{ role: 'user', content: 'Hello' }]);
    await openai.engine.createMessage({ sessionId: openai.sessionId, userId: 'bob', content: 'Me too' });
    const both = await openai.ask('Who spoke?');
    expect(both.messages.filter((m: { role: string }) => m.role === 'user')).toEqual([
      { role: 'user', content: 'Hello', name: 'alice' },
      { role: 'user', content: 'Me too', name: 'Bob_B_' }, // OpenAI's name takes letters, digits, _ and -
      { role: 'user', content: 'Who spoke?', name: 'alice' },
    ]);

    const anthropic = await setup({}, 'anthropic');
    await anthropic.engine.createMessage({ sessionId: anthropic.sessionId, userId: 'bob', content: 'Me too' });
    const body = await anthropic.ask('Who spoke?');
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: '[bob]: Me too' }, { type: 'text', text: '[alice]: Who spoke?' }] },
    ]);
  });

  it('without an authorName, the names are the members\' display names where their profile has one, else their ids', async () => {
    const { engine, sessionId, ask } = await setup({}, 'anthropic');
    await engine.rememberUser({ userId: 'alice', name: 'Alice Martin' });
    await engine.createMessage({ sessionId, userId: 'bob', content: 'Me too' }); // bob has no profile
    const created = new Promise<Message>((resolve) => engine.on('message.created', ({ message }) => message.role === 'user' && resolve(message)));
    const body = await ask('Who spoke?');
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: '[bob]: Me too' }, { type: 'text', text: '[Alice Martin]: Who spoke?' }] },
    ]);
    // The prompt is a message like any other: members see who asked.
    expect((await created).authorName).toBe('Alice Martin');
    const page = await engine.getMessageHistory(sessionId, undefined, { limit: 10 });
    expect(page.messages.map((m) => [m.role, m.authorName])).toEqual([
      ['user', null],
      ['user', 'Alice Martin'],
      ['assistant', null],
    ]);
  });

  it("an earlier answer's tool call and result go back as OpenAI tool_calls and a tool message", async () => {
    const { ask } = await setup({ tools: { lookupOrder } });
    await ask('Where is A-1042?');
    const body = await ask('Thanks. When will it arrive?');
    expect(body.messages.slice(1)).toEqual([
      { role: 'user', content: 'Where is A-1042?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', type: 'function', function: { name: 'lookupOrder', arguments: '{"orderId":"A-1042"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', content: '{"status":"shipped"}' },
      { role: 'assistant', content: 'Order A-1042 has shipped.' },
      { role: 'user', content: 'Thanks. When will it arrive?' },
    ]);
  });

  it("an earlier answer's tool call and result go back as Anthropic tool_use and tool_result blocks", async () => {
    const { ask } = await setup({ tools: { lookupOrder } }, 'anthropic');
    await ask('Where is A-1042?');
    const body = await ask('Thanks. When will it arrive?');
    const id = 'toolu_01T1x1fJ34qAmk2tNTrN7Up6';
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Where is A-1042?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: "I'll look up that order." },
          { type: 'tool_use', id, name: 'lookupOrder', input: { orderId: 'A-1042' } },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: id, content: '{"status":"shipped"}' }],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'Order A-1042 has shipped.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Thanks. When will it arrive?' }] },
    ]);
  });

  it('a call whose result never came (its node died while the tool ran) is left out; the text around it goes', async () => {
    const { engine, storage, sessionId, ask } = await setup({ tools: { lookupOrder } });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'Hello', userId: 'alice' });
    await expect.poll(async () => (await engine.getStreamStatus(streamId)).status).toBe('completed');
    const at = new Date();
    await storage.updateMessage(messageId, {
      parts: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool-call', toolCallId: 'call_lost', toolName: 'lookupOrder', input: { orderId: 'A-1' } },
      ],
      at,
    }, { bumpSeq: false });
    const body = await ask('Still there?');
    expect(body.messages.slice(1)).toEqual([
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Let me check.' },
      { role: 'user', content: 'Still there?' },
    ]);
  });

  it('when older messages were trimmed, history starts at a member message: an answer whose question is gone is left out too', async () => {
    const { storage, sessionId, ask } = await setup({ context: { maxTokens: 120 } });
    const at = new Date();
    const item = (role: 'user' | 'assistant', content: string) => ({
      id: crypto.randomUUID(), sessionId, userId: role === 'user' ? 'alice' : null, agentId: null, role, content,
      metadata: null, tokens: null, parentMessageId: null, clientMessageId: null, attachments: [], at,
    });
    await storage.insertMessages([
      item('user', 'a long question '.repeat(100)),
      item('assistant', 'A short answer.'),
      item('user', 'Next question?'),
      item('assistant', 'Next answer.'),
    ]);
    const body = await ask('Last one?');
    expect(body.messages.map((m: { content: string }) => m.content)).toEqual(['You look orders up.', 'Next question?', 'Next answer.', 'Last one?']);
  });

  it('an authorName that throws fails the request before anything is stored', async () => {
    const { engine, sessionId } = await setup({ context: { authorName: () => { throw new Error('directory down'); } } });
    await engine.createMessage({ sessionId, userId: 'bob', content: 'Hi' });
    await expect(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' })).rejects.toMatchObject({ code: 'INTERNAL' });
    expect((await engine.getMessageHistory(sessionId, 'alice', { limit: 10, offset: 0 })).total).toBe(1);
  });
});
