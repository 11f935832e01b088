import { countTokens } from 'gpt-tokenizer';
import type { LlmMessage, Message, MessagePart } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { modelMessages, type ContextInput } from '../../src/streams/model-context.js';

/**
 * `modelMessages` on its own: which stored messages go upstream, in which shape, and where the
 * token budget cuts (the engine-level behaviour is in model-context.test.ts).
 */
let seq = 0;
function message(role: Message['role'], content: string, extra: Partial<Message> = {}): Message {
  seq++;
  return {
    id: `m${seq}`, sessionId: 's', userId: role === 'user' ? 'alice' : null, agentId: null, content, role, metadata: null, tokens: null,
    parentMessageId: null, replyCount: 0, seq, changeSeq: seq, clientMessageId: null, isEdited: false, editedAt: null, isDeleted: false,
    deletedAt: null, createdAt: '', updatedAt: '', attachments: [], reactions: [], ...extra,
  };
}

const build = (history: Message[], extra: Partial<ContextInput> = {}) =>
  modelMessages({ systemPrompt: 'Sys.', history, prompt: { content: 'Now?', userId: 'alice' }, tools: [], context: undefined, ...extra });

/** What `modelMessages` counts for a message: 4 for the chat format, its text, a name, tool calls. */
function cost(m: LlmMessage): number {
  let tokens = 4 + countTokens(m.content);
  if (m.role === 'user' && m.name !== undefined) tokens += countTokens(m.name) + 1;
  if (m.role === 'assistant') for (const c of m.toolCalls ?? []) tokens += countTokens(c.name) + countTokens(c.arguments) + 4;
  return tokens;
}

const call = (id: string, input: unknown = { orderId: 'A-1' }): MessagePart => ({ type: 'tool-call', toolCallId: id, toolName: 'lookup', input });
const result = (id: string, output: unknown, isError?: boolean): MessagePart => ({ type: 'tool-result', toolCallId: id, toolName: 'lookup', output, ...(isError && { isError }) });

describe('modelMessages', () => {
  it('leaves out deleted and empty messages, keeps an answer that is only tool parts, and sends system notes as system', async () => {
    const history = [
      message('user', 'gone', { isDeleted: true }),
      message('assistant', ''), // an answer before its first token
      message('system', 'Bob joined.'),
      message('assistant', '', { parts: [call('c1'), result('c1', { ok: 1 })] }),
    ];
    expect(await build(history)).toEqual([
      { role: 'system', content: 'Sys.' },
      { role: 'system', content: 'Bob joined.' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"orderId":"A-1"}' }] },
      { role: 'tool', toolCallId: 'c1', toolName: 'lookup', content: '{"ok":1}' },
      { role: 'user', content: 'Now?' },
    ]);
  });

  it('names authors only when two members wrote: answers, notes and the sender alone do not count', async () => {
    const alone = [message('user', 'hi'), message('assistant', 'hello'), message('system', 'note')];
    expect((await build(alone)).filter((m) => m.role === 'user')).toStrictEqual([
      { role: 'user', content: 'hi' },
      { role: 'user', content: 'Now?' },
    ]);
    const two = [message('user', 'hi', { userId: 'bob' }), message('assistant', 'hello')];
    expect((await build(two)).filter((m) => m.role === 'user')).toStrictEqual([
      { role: 'user', content: 'hi', name: 'bob' },
      { role: 'user', content: 'Now?', name: 'alice' },
    ]);
    // A deleted message of someone else does not make the session a group.
    expect((await build([message('user', 'x', { userId: 'bob', isDeleted: true })])).at(-1)).toStrictEqual({ role: 'user', content: 'Now?' });
    // No system prompt: none sent.
    expect(await build([], { systemPrompt: undefined })).toStrictEqual([{ role: 'user', content: 'Now?' }]);
  });

  it("an answer's steps: text, calls and results in order, results after their calls, text after results a new message", async () => {
    const parts: MessagePart[] = [
      { type: 'text', text: 'Checking. ' },
      call('c1'),
      call('c2', 'not json'),
      result('c2', { error: 'Invalid input' }, true),
      result('c1', undefined),
      { type: 'text', text: '\n\nDone.' },
      { type: 'text', text: ' Really.' },
    ];
    expect((await build([message('assistant', 'Checking. \n\nDone. Really.', { parts })])).slice(1, -1)).toEqual([
      {
        role: 'assistant',
        content: 'Checking.',
        toolCalls: [
          { id: 'c1', name: 'lookup', arguments: '{"orderId":"A-1"}' },
          { id: 'c2', name: 'lookup', arguments: 'not json' },
        ],
      },
      { role: 'tool', toolCallId: 'c1', toolName: 'lookup', content: 'null' },
      { role: 'tool', toolCallId: 'c2', toolName: 'lookup', content: '{"error":"Invalid input"}', isError: true },
      { role: 'assistant', content: 'Done. Really.' },
    ]);
    // Whitespace after the last result adds no empty message.
    expect((await build([message('assistant', '', { parts: [call('c1'), result('c1', 1), { type: 'text', text: '\n\n ' }] })])).slice(1, -1)).toEqual([
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"orderId":"A-1"}' }] },
      { role: 'tool', toolCallId: 'c1', toolName: 'lookup', content: '1' },
    ]);
    // Text-only parts: the stored content as it is.
    expect((await build([message('assistant', ' as is ', { parts: [{ type: 'text', text: ' as is ' }] })]))[1]).toEqual({ role: 'assistant', content: ' as is ' });
  });

  it('the budget counts names, tool calls and tool definitions, and keeps a message that fits exactly', async () => {
    const history = [message('user', 'first question here', { userId: 'bob' }), message('user', 'second')];
    const all = await build(history);
    const named = all.map(cost).reduce((a, b) => a + b, 0);
    // Exactly the cost of everything: all kept; one token less: the oldest goes.
    expect(await build(history, { context: { maxTokens: named } })).toEqual(all);
    expect((await build(history, { context: { maxTokens: named - 1 } })).map((m) => m.content)).toEqual(['Sys.', 'second', 'Now?']);

    const tools = [{ name: 'lookup', description: 'Order status', inputSchema: { type: 'object' } }];
    const withTools = named + countTokens(JSON.stringify(tools));
    expect(await build(history, { tools, context: { maxTokens: withTools } })).toEqual(all);
    expect((await build(history, { tools, context: { maxTokens: withTools - 1 } })).map((m) => m.content)).toEqual(['Sys.', 'second', 'Now?']);

    const answer = message('assistant', '', { parts: [call('c1', { orderId: 'A-1042', note: 'a longer input to count' }), result('c1', 1)] });
    const steps = await build([answer]);
    const stepsCost = steps.map(cost).reduce((a, b) => a + b, 0);
    expect(await build([answer], { context: { maxTokens: stepsCost } })).toEqual(steps);
    expect(await build([answer], { context: { maxTokens: stepsCost - 1 } })).toEqual([steps[0], steps.at(-1)]);
  });

  it('an answer that is only a call without result sends nothing, also where trimming starts', async () => {
    const orphan = message('assistant', '', { parts: [call('lost')] });
    expect(await build([orphan])).toEqual([{ role: 'system', content: 'Sys.' }, { role: 'user', content: 'Now?' }]);
    const history = [message('user', 'a long question '.repeat(50)), orphan, message('user', 'hi')];
    expect((await build(history, { context: { maxTokens: 100 } })).map((m) => m.content)).toEqual(['Sys.', 'hi', 'Now?']);
  });

  it('history that all fits is sent whole, even when it starts with an answer', async () => {
    const history = [message('assistant', 'Welcome!'), message('user', 'hi')];
    expect((await build(history, { context: { maxTokens: 10_000 } })).map((m) => m.content)).toEqual(['Sys.', 'Welcome!', 'hi', 'Now?']);
  });
});
