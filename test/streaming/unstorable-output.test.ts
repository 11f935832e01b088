import { ChatEngine, type LlmProvider } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { testStorages } from '../support/storages.js';

/**
 * What a model sends is not validated like user content, yet it is stored the same way: U+0000
 * (which Postgres cannot store), other control characters and unpaired surrogates must not fail
 * the answer's commit on any storage, nor reach members.
 */
const storages = await testStorages('unstorable-output');

/** An upstream that sends these pieces, then finishes. */
const saying = (pieces: string[]): LlmProvider => ({
  name: 'pieces',
  async *stream() {
    for (const text of pieces) yield { text };
    yield { text: '', finishReason: 'stop' };
  },
});

for (const { name, create, skip } of storages) {
  describe.skipIf(skip !== undefined)(`an answer with characters no storage may keep, on ${name}`, () => {
    it('drops control characters (U+0000 included) and replaces unpaired surrogates; the answer completes as members saw it', async () => {
      const pieces = ['Zero\u0000 ', 'bell\u0007 and escape\u001b[31m ', 'lone \uD800 high, lone \uDC00 low, ', 'split pair \uD83D', '\uDE00 ok\n\ttab kept'];
      const engine = new ChatEngine({ storage: create(), rateLimits: NO_RATE_LIMITS, llm: saying(pieces), streamDelayMs: 5 });
      try {
        await engine.init();
        const session = await engine.createSession({ createdBy: 'alice' });
        let deltas = '';
        engine.on('stream.chunk', (chunk) => (deltas += chunk.delta));
        const ended = new Promise<string>((resolve) => {
          for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) engine.on(event, () => resolve(event));
        });
        const { messageId } = await engine.requestStream({ sessionId: session.id, prompt: 'say odd things', userId: 'alice' });
        expect(await ended).toBe('stream.completed');

        const expected = 'Zero bell and escape[31m lone \uFFFD high, lone \uFFFD low, split pair 😀 ok\n\ttab kept';
        const answer = await engine.getMessage(messageId);
        expect(answer.content).toBe(expected);
        expect(answer.metadata).toMatchObject({ status: 'completed' });
        expect(deltas).toBe(expected);
      } finally {
        await engine.close();
      }
    });
  });
}
