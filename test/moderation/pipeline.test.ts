import { ChatError, type BeforeMessageHook } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { ModerationPipeline } from '../../src/moderation/pipeline.js';
import { StreamOutputFilter } from '../../src/streams/output-filter.js';
import { expectChatError, memoryEngine, storedState } from '../support/engine.js';

/** An engine with `hook` installed, a session alice owns (bob is a member), and what the hook saw. */
async function withHook(hook: BeforeMessageHook, maxContentLength?: number) {
  const seen: string[] = [];
  const engine = await memoryEngine({
    moderation: { beforeMessage: (ctx) => (seen.push(ctx.content), hook(ctx)) },
    ...(maxContentLength !== undefined && { limits: { maxContentLength } }),
  });
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  return { engine, sessionId: session.id, seen };
}

describe('moderation: the beforeMessage hook', () => {
  it('a hook that returns nothing keeps the filtered text', async () => {
    const { engine, sessionId, seen } = await withHook(() => undefined);
    const message = await engine.createMessage({ sessionId, userId: 'alice', content: 'well shit' });
    expect(message.content).toBe('well ****');
    expect(seen).toEqual(['well ****']);
  });

  it('a hook that throws something else than a ChatError fails the send as INTERNAL, without its message, writing nothing', async () => {
    const { engine, sessionId } = await withHook(() => {
      throw new Error('db password is hunter2');
    });
    const before = await storedState(engine, sessionId);
    const error = await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content: 'hello' }), 'INTERNAL');
    expect(error.message).toBe('Moderation hook failed');
    expect(JSON.stringify(error.toJSON())).not.toContain('hunter2');
    expect(await storedState(engine, sessionId)).toEqual(before);
  });

  it('a hook that throws a ChatError reaches the caller as it is', async () => {
    const { engine, sessionId } = await withHook(() => {
      throw new ChatError('FORBIDDEN', 'Muted until tomorrow');
    });
    const error = await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content: 'hello' }), 'FORBIDDEN');
    expect(error.message).toBe('Muted until tomorrow');
  });

  it('a rejection says why, in the message and the details', async () => {
    const { engine, sessionId } = await withHook(() => ({ reject: 'no shouting' }));
    const error = await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content: 'HELLO' }), 'VALIDATION');
    expect(error.message).toBe('Message rejected: no shouting');
    expect(error.details).toEqual({ moderation: true, reason: 'no shouting' });
  });

  it('sees only sends the sender may make: a non-member is refused before the hook runs', async () => {
    const { engine, sessionId, seen } = await withHook(() => undefined);
    await expectChatError(engine.createMessage({ sessionId, userId: 'mallory', content: 'let me in' }), 'FORBIDDEN');
    expect(seen).toEqual([]);
  });

  it('text the hook rewrites is held to the same rules: not blank, not too long', async () => {
    const { engine, sessionId } = await withHook(({ content }) => (content === 'blank' ? '   ' : content.repeat(3)), 10);
    const before = await storedState(engine, sessionId);
    await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content: 'blank' }), 'VALIDATION');
    const error = await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content: 'four' }), 'VALIDATION');
    expect(error.message).toBe('Message is longer than 10 characters after normalisation');
    expect(await storedState(engine, sessionId)).toEqual(before);
  });
});

const pipeline = (maxLength: number) => new ModerationPipeline({}, maxLength);
const context = { kind: 'message', sessionId: 's', userId: 'alice' } as const;

describe('moderation: what normalisation leaves', () => {
  it('text of nothing but invisible characters is empty once they are stripped: refused, nothing written', async () => {
    const engine = await memoryEngine();
    const { id: sessionId } = await engine.createSession({ createdBy: 'alice' });
    const before = await storedState(engine, sessionId);
    await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content: '\u200b\u200d\u2060' }), 'VALIDATION');
    expect(await storedState(engine, sessionId)).toEqual(before);
    // The pipeline holds the rule itself, for every caller of it.
    const error = await expectChatError(pipeline(100).moderate(context, '\u200b\u2060'), 'VALIDATION');
    expect(error.message).toBe('Message is empty after moderation');
  });

  it('the length limit holds after NFKC, which can lengthen text: up to the limit passes, past it is refused', async () => {
    const engine = await memoryEngine({ limits: { maxContentLength: 18 } });
    const { id: sessionId } = await engine.createSession({ createdBy: 'alice' });
    const ligature = '\uFDFA'; // one character, 18 once NFKC-normalised
    expect((await engine.createMessage({ sessionId, userId: 'alice', content: ligature })).content).toHaveLength(18);
    const before = await storedState(engine, sessionId);
    await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content: `a${ligature}` }), 'VALIDATION');
    expect(await storedState(engine, sessionId)).toEqual(before);
    // The pipeline holds the rule itself, for every caller of it.
    expect(await pipeline(18).moderate(context, ligature)).toHaveLength(18);
    const error = await expectChatError(pipeline(18).moderate(context, `a${ligature}`), 'VALIDATION');
    expect(error.message).toBe('Message is longer than 18 characters after normalisation');
  });
});

describe('moderation: streamed output with the filter off', () => {
  it('holds nothing back: a word that could become a listed one goes out at once', () => {
    const filter = new StreamOutputFilter(new ModerationPipeline({ profanity: false }, 1000));
    expect(['well sh', 'it'].map((piece) => filter.push(piece))).toEqual(['well sh', 'it']);
    expect(filter.end()).toBe('');
    const on = new StreamOutputFilter(new ModerationPipeline({ profanity: true }, 1000));
    expect(on.push('well sh')).toBe('well ');
  });
});
