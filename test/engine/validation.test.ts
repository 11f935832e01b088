import { describe, expect, it } from 'vitest';
import { expectChatError, memoryEngine, storedState } from '../support/engine.js';

/** Bad input gets VALIDATION with a path in `details`, and nothing is written. */
async function setup() {
  const engine = await memoryEngine();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  const message = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'first' });
  return { engine, sessionId: session.id, messageId: message.id };
}

const file = { fileName: 'a.png', fileUrl: 'https://cdn.example.com/a.png', mimeType: 'image/png', fileSize: 10 };

describe('bad message input is refused with VALIDATION and nothing written', () => {
  const contents: Record<string, unknown> = {
    empty: '',
    'only whitespace': '   \n\t ',
    oversize: 'x'.repeat(10_001),
    'a number': 42,
    null: null,
    'an array': ['hi'],
    'an object': { text: 'hi' },
    'a NUL character': 'hi\u0000there',
    'a control character': 'bell\u0007',
    'a lone surrogate': 'broken \uD800 text',
  };
  for (const [name, content] of Object.entries(contents)) {
    it(`content: ${name}`, async () => {
      const { engine, sessionId } = await setup();
      const before = await storedState(engine, sessionId);
      await expectChatError(engine.createMessage({ sessionId, userId: 'alice', content } as never), 'VALIDATION');
      expect(await storedState(engine, sessionId)).toEqual(before);
    });
  }

  const payloads: Record<string, (sessionId: string, messageId: string) => unknown> = {
    'unknown key': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', senderId: 'mallory' }),
    'missing sessionId': () => ({ userId: 'alice', content: 'hi' }),
    'session id with spaces': () => ({ sessionId: 'a b', userId: 'alice', content: 'hi' }),
    'session id of 129 chars': () => ({ sessionId: 'x'.repeat(129), userId: 'alice', content: 'hi' }),
    'user id with a slash': (s) => ({ sessionId: s, userId: '../alice', content: 'hi' }),
    'parentMessageId not a UUID': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', parentMessageId: "1' OR '1'='1" }),
    'javascript: attachment URL': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: [{ ...file, fileUrl: 'javascript:alert(1)' }] }),
    'data: attachment URL': (s) => ({
      sessionId: s,
      userId: 'alice',
      content: 'hi',
      attachments: [{ ...file, fileUrl: 'data:text/html;base64,PHNjcmlwdD4=' }],
    }),
    'relative attachment URL': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: [{ ...file, fileUrl: '/etc/passwd' }] }),
    'a thousand attachments': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: Array.from({ length: 1000 }, () => file) }),
    'eleven attachments': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: Array.from({ length: 11 }, () => file) }),
    'negative file size': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: [{ ...file, fileSize: -1 }] }),
    'fractional file size': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: [{ ...file, fileSize: 1.5 }] }),
    'bad MIME type': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: [{ ...file, mimeType: 'image' }] }),
    'unknown attachment key': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', attachments: [{ ...file, path: '/tmp/x' }] }),
    '__proto__ in metadata': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', metadata: JSON.parse('{"__proto__":{"admin":true}}') }),
    'metadata too large': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', metadata: { blob: 'x'.repeat(10_000) } }),
    'metadata is an array': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', metadata: [1, 2] }),
    'clientMessageId too long': (s) => ({ sessionId: s, userId: 'alice', content: 'hi', clientMessageId: 'c'.repeat(200) }),
  };
  for (const [name, payload] of Object.entries(payloads)) {
    it(name, async () => {
      const { engine, sessionId, messageId } = await setup();
      const before = await storedState(engine, sessionId);
      const error = await expectChatError(engine.createMessage(payload(sessionId, messageId) as never), 'VALIDATION');
      expect(error.details).toMatchObject({ issues: expect.any(Array) });
      expect(await storedState(engine, sessionId)).toEqual(before);
    });
  }
});

describe('bad input on the other methods', () => {
  it('invalid emoji are refused; RGI emoji, skin tones, ZWJ sequences and :shortcodes: are accepted', async () => {
    const { engine, sessionId, messageId } = await setup();
    const before = await storedState(engine, sessionId);
    for (const emoji of ['', 'abc', '👍👍', '<img>', ':no spaces:', 'x'.repeat(100), '1', '\u200d']) {
      await expectChatError(engine.toggleReaction(messageId, 'bob', emoji), 'VALIDATION');
    }
    expect(await storedState(engine, sessionId)).toEqual(before);
    for (const emoji of ['👍', '👍🏽', '👨‍👩‍👧', '🇫🇷', ':party_parrot:', '❤️']) {
      await expect(engine.toggleReaction(messageId, 'bob', emoji)).resolves.toMatchObject({ added: true });
    }
  });

  it('a text-style heart and the emoji-style heart are one reaction', async () => {
    const { engine, messageId } = await setup();
    await engine.toggleReaction(messageId, 'bob', '❤');
    const { added, reactions } = await engine.toggleReaction(messageId, 'bob', '❤️');
    expect(added).toBe(false);
    expect(reactions).toEqual([]);
  });

  it('edit, attachments, history, search and ids', async () => {
    const { engine, sessionId, messageId } = await setup();
    const before = await storedState(engine, sessionId);
    await expectChatError(engine.editMessage(messageId, '', 'alice'), 'VALIDATION');
    await expectChatError(engine.editMessage(messageId, 'x'.repeat(10_001), 'alice'), 'VALIDATION');
    await expectChatError(engine.editMessage('not-a-uuid', 'x', 'alice'), 'VALIDATION');
    await expectChatError(engine.addAttachment(messageId, { ...file, fileUrl: 'javascript:alert(1)' }, 'alice'), 'VALIDATION');
    await expectChatError(engine.addAttachment(messageId, { ...file, fileName: '' }, 'alice'), 'VALIDATION');
    await expectChatError(engine.getMessageHistory(sessionId, 'alice', { limit: 0 }), 'VALIDATION');
    await expectChatError(engine.getMessageHistory(sessionId, 'alice', { limit: 1000 }), 'VALIDATION');
    await expectChatError(engine.getMessageHistory(sessionId, 'alice', { offset: -1 }), 'VALIDATION');
    await expectChatError(engine.getMessageHistory(sessionId, 'alice', { before: -1 }), 'VALIDATION');
    await expectChatError(engine.getMessageHistory(sessionId, 'alice', { limit: '10' } as never), 'VALIDATION');
    await expectChatError(engine.searchMessages(sessionId, 'alice', ''), 'VALIDATION');
    await expectChatError(engine.searchMessages(sessionId, 'alice', '*** --- !!!'), 'VALIDATION');
    await expectChatError(engine.createSession({ createdBy: 'alice', memberIds: Array.from({ length: 101 }, (_, i) => `u${i}`) }), 'VALIDATION');
    await expectChatError(engine.createSession({ createdBy: 'al ice' }), 'VALIDATION');
    await expectChatError(engine.markSeen(sessionId, 'nope', 'alice'), 'VALIDATION');
    await expectChatError(engine.getMessageHistory(sessionId, 'bad user'), 'VALIDATION');
    expect(await storedState(engine, sessionId)).toEqual(before);
  });

  it('a message may not grow past ten attachments one at a time either', async () => {
    const { engine, sessionId } = await setup();
    const message = await engine.createMessage({ sessionId, userId: 'alice', content: 'files', attachments: Array.from({ length: 10 }, () => file) });
    // a well-formed request the message's state refuses: CONFLICT (409 over REST), not a validation error
    await expectChatError(engine.addAttachment(message.id, file, 'alice'), 'CONFLICT');
    expect((await engine.getAttachments(message.id, 'alice')).length).toBe(10);
  });

  it('search text cannot inject query syntax', async () => {
    const { engine, sessionId } = await setup();
    await engine.createMessage({ sessionId, userId: 'alice', content: 'the quick brown fox' });
    for (const query of ['quick OR 1=1', '"quick', 'quick*', "quick'; DROP TABLE chat_messages; --", 'NEAR(quick fox)', 'quick & !fox']) {
      await expect(engine.searchMessages(sessionId, 'alice', query)).resolves.toBeDefined();
    }
    expect((await engine.searchMessages(sessionId, 'alice', 'QUICK fox')).total).toBe(1);
  });
});
