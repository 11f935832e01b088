import { describe, expect, it } from 'vitest';
import { expectChatError, memoryEngine, storedState } from '../support/engine.js';

describe('moderation pipeline', () => {
  it('masks profanity before storing, also when hidden with zero-width or full-width characters', async () => {
    const engine = await memoryEngine();
    const session = await engine.createSession({ createdBy: 'alice' });
    const plain = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'you are a shit person' });
    expect(plain.content).toBe('you are a **** person');
    const zeroWidth = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'sh\u200bit happens' });
    expect(zeroWidth.content).toBe('**** happens');
    const fullWidth = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'ｓｈｉｔ happens' });
    expect(fullWidth.content).toBe('**** happens');
    const stored = await engine.getMessage(plain.id, 'alice');
    expect(stored.content).toBe('you are a **** person');
  });

  it('sees through the other invisible characters too, and stores text without bidi overrides', async () => {
    const engine = await memoryEngine();
    const session = await engine.createSession({ createdBy: 'alice' });
    const hidden = {
      'variation selector 16': '\uFE0F',
      'a tag character': '\u{E0073}',
      'the Hangul fillers': '\u3164\u115F\u1160\uFFA0',
      'a right-to-left override': '\u202E',
      'an isolate': '\u2066',
      'a left-to-right mark': '\u200E',
    };
    for (const [what, chars] of Object.entries(hidden)) {
      const message = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: `sh${chars}it happens` });
      expect(message.content, what).toBe('**** happens');
    }
    // U+202E would show "invoice_exe.jpg"; what is stored is what it really says.
    const spoof = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'invoice_\u202Egpj.exe' });
    expect(spoof.content).toBe('invoice_gpj.exe');
    expect((await engine.getMessage(spoof.id, 'alice')).content).toBe('invoice_gpj.exe');
    expect((await engine.editMessage(spoof.id, 'report\u2067fdp.exe\u2069', 'alice')).content).toBe('reportfdp.exe');
    const emoji = '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} 1\uFE0F\u20E3 ™\uFE0F 👩🏽\u200D💻 ❤\uFE0F\u200D🔥';
    expect((await engine.createMessage({ sessionId: session.id, userId: 'alice', content: emoji })).content).toBe(emoji);
  });

  it('filters edits too, and leaves clean text and emoji sequences alone', async () => {
    const engine = await memoryEngine();
    const session = await engine.createSession({ createdBy: 'alice' });
    const message = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'family: 👨‍👩‍👧 ok' });
    expect(message.content).toBe('family: 👨‍👩‍👧 ok');
    const edited = await engine.editMessage(message.id, 'what the shit', 'alice');
    expect(edited.content).toBe('what the ****');
  });

  it('can be turned off or given extra words', async () => {
    const off = await memoryEngine({ moderation: { profanity: false } });
    const s1 = await off.createSession({ createdBy: 'alice' });
    expect((await off.createMessage({ sessionId: s1.id, userId: 'alice', content: 'shit' })).content).toBe('shit');
    const custom = await memoryEngine({ moderation: { profanity: { addWords: ['frobnicate'], placeHolder: '#' } } });
    const s2 = await custom.createSession({ createdBy: 'alice' });
    expect((await custom.createMessage({ sessionId: s2.id, userId: 'alice', content: 'do not frobnicate' })).content).toBe('do not ##########');
  });

  it('a beforeMessage hook can rewrite or reject; a rejection writes nothing', async () => {
    const engine = await memoryEngine({
      moderation: {
        beforeMessage: ({ content, kind }) => {
          if (content.includes('http://spam')) return { reject: 'links to spam' };
          if (kind === 'message') return content.replace(/secret/g, '[redacted]');
          return undefined;
        },
      },
    });
    const session = await engine.createSession({ createdBy: 'alice' });
    const rewritten = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'the secret is out' });
    expect(rewritten.content).toBe('the [redacted] is out');
    const before = await storedState(engine, session.id);
    const error = await expectChatError(engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'visit http://spam.example' }), 'VALIDATION');
    expect(error.details).toEqual({ moderation: true, reason: 'links to spam' });
    await expectChatError(engine.editMessage(rewritten.id, 'http://spam.example', 'alice'), 'VALIDATION');
    expect(await storedState(engine, session.id)).toEqual(before);
  });
});
