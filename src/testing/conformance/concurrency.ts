import { describe, expect, it } from 'vitest';
import { must, range, SLOW, type ConformanceKit } from './kit.js';

/** The storage contract's rules for concurrent writes and content round-trips. */
export function defineConcurrencyCases(kit: ConformanceKit): void {
  const { db, clock, newSession, draft, attachment, post, sessionNow, lastSeq, react } = kit;

  // ---- concurrency ------------------------------------------------------------------------

  describe('concurrency', () => {
    it(
      'concurrent inserts into one session (200 single-message calls and 4 batches at once) get seqs exactly 1..N, unique and gapless',
      async () => {
        const session = await newSession();
        const singles = Array.from({ length: 200 }, (_, i) => db().insertMessages([draft(session.id, { content: `single ${i}` })]));
        const batches = Array.from({ length: 4 }, (_, b) =>
          db().insertMessages(Array.from({ length: 5 }, (_, i) => draft(session.id, { content: `batch ${b}.${i}` }))),
        );
        const batchResults = await Promise.all(batches);
        const results = [...(await Promise.all(singles)).flat(), ...batchResults.flat()];
        const n = 220;
        expect(results.every((r) => r.created)).toBe(true);
        expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual(range(1, n));
        for (const batch of batchResults) {
          const seqs = batch.map((r) => r.message.seq);
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y)); // input order = seq order
        }
        expect(await sessionNow(session.id)).toMatchObject({ lastSeq: n, messageCount: n });
        const history = await db().getHistory(session.id, { limit: n, offset: 0, parentMessageId: null });
        expect(history.messages.map((m) => m.seq)).toEqual(range(1, n));
        const seqById = new Map(results.map((r) => [r.message.id, r.message.seq]));
        expect(history.messages.every((m) => seqById.get(m.id) === m.seq)).toBe(true);
      },
      SLOW,
    );

    it(
      'concurrent inserts with the same clientMessageId store exactly one message',
      async () => {
        const session = await newSession();
        const singles = Array.from({ length: 20 }, (_, i) =>
          db().insertMessages([draft(session.id, { userId: 'alice', clientMessageId: 'once', content: `attempt ${i}` })]),
        );
        const batches = Array.from({ length: 5 }, (_, i) =>
          db().insertMessages([
            draft(session.id, { userId: 'alice', clientMessageId: 'once', content: `batched attempt ${i}` }),
            draft(session.id, { userId: 'alice', clientMessageId: `unique-${i}`, content: `unique ${i}` }),
          ]),
        );
        const results = (await Promise.all([...singles, ...batches])).flat();
        const once = results.filter((r) => r.message.clientMessageId === 'once');
        expect(once).toHaveLength(25);
        expect(once.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(once.map((r) => r.message.id)).size).toBe(1);
        expect(results.filter((r) => r.message.clientMessageId !== 'once').every((r) => r.created)).toBe(true);
        expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 6, messageCount: 6 });
        const all = await db().getHistory(session.id, { limit: 100, offset: 0, parentMessageId: null });
        expect(all.messages.map((m) => m.seq)).toEqual(range(1, 6));
      },
      SLOW,
    );

    it(
      'concurrent changes of every kind (inserts, edits, reactions, attachments) each take a distinct seq, with no gaps',
      async () => {
        const session = await newSession();
        const existing = (await db().insertMessages(Array.from({ length: 50 }, (_, i) => draft(session.id, { content: `base ${i}` })))).map(
          (r) => r.message,
        );
        const target = (i: number) => must(existing[i]).id;
        const seqs = await Promise.all([
          ...Array.from({ length: 30 }, async (_, i) => must((await db().insertMessages([draft(session.id, { content: `new ${i}` })]))[0]).message.seq),
          ...Array.from({ length: 20 }, async (_, i) => {
            const at = clock();
            return must(await db().updateMessage(target(i), { content: `edited ${i}`, isEdited: true, editedAt: at, at }, { bumpSeq: true })).changeSeq;
          }),
          ...Array.from({ length: 20 }, async (_, i) => must(await react(target(20 + i), `user-${i}`, '👍', 'add')).message.changeSeq),
          ...Array.from({ length: 10 }, async (_, i) => must(await db().addAttachments(target(40 + i), [attachment()], clock())).message.changeSeq),
        ]);
        expect([...seqs].sort((x, y) => x - y)).toEqual(range(51, 130));
        expect(await lastSeq(session.id)).toBe(130);
        const changes = await db().getChangesSince(session.id, 50, 1000);
        expect(changes.map((m) => m.changeSeq)).toEqual(range(51, 130));
      },
      SLOW,
    );
  });

  // ---- content round-trip -----------------------------------------------------------------

  describe('content round-trip', () => {
    const samples = [
      'emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🫠',
      'CJK 你好，世界 こんにちは 안녕하세요',
      'RTL שלום עולם مرحبا بالعالم \u200F\u200E mixed',
      'combining e\u0301 n\u0303 vs precomposed é ñ; astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎',
      'controls \t tab \n newline \r\n crlf \u0001 \u001F \u007F \u0085 \u2028 \u2029 \u00A0 \uFEFF',
      "quotes 'single' \"double\" `back` \\ backslash %_ like-wildcards ?$1 :name '); DROP TABLE chat_messages; --",
      '   leading and trailing spaces   ',
      '<script>alert(1)</script> &amp; stays as plain text',
    ];

    it('Unicode content, metadata and file names round-trip exactly (emoji, CJK, RTL, combining marks, NUL-free control characters)', async () => {
      const session = await newSession();
      const inserted = await db().insertMessages(
        samples.map((content) =>
          draft(session.id, { content, metadata: { text: content, [[...content].slice(0, 8).join("")]: true }, attachments: [attachment({ fileName: `${[...content].slice(0, 12).join("")}.txt` })] }),
        ),
      );
      const page = await db().getHistory(session.id, { limit: 100, offset: 0, parentMessageId: null });
      expect(page.messages.map((m) => m.content)).toEqual(samples);
      for (const [i, result] of inserted.entries()) {
        const sample = must(samples[i]);
        const stored = must(await db().getMessage(result.message.id));
        expect(stored.content).toBe(sample);
        expect(stored.content.length).toBe(sample.length);
        expect(stored.metadata).toEqual({ text: sample, [[...sample].slice(0, 8).join("")]: true });
        expect(stored.attachments[0]?.fileName).toBe(`${[...sample].slice(0, 12).join("")}.txt`);
      }
      const edited = await db().updateMessage(must(inserted[0]).message.id, { content: must(samples[2]), at: clock() }, { bumpSeq: true });
      expect(edited?.content).toBe(samples[2]);
    });

    it('a 10,000-character message round-trips and its last word is searchable', async () => {
      const session = await newSession();
      const body = 'lorem ipsum dolor sit amet – ünïcödé ✓ 漢字 '.repeat(300);
      const content = `${body.slice(0, 10_000 - ' zebra'.length)} zebra`;
      expect(content.length).toBe(10_000);
      const message = await post(session.id, { content });
      expect((await db().getMessage(message.id))?.content).toBe(content);
      expect((await db().getHistory(session.id, { limit: 1, offset: 0, parentMessageId: null })).messages[0]?.content).toBe(content);
      expect((await db().searchMessages(session.id, ['zebra'], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((m) => m.id)).toEqual([message.id]);
    });
  });
}
