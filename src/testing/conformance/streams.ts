import { describe, expect, it } from 'vitest';
import { isChatError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Message, MessagePart, StreamRecord } from '../../model.js';
import type { NewMessage } from '../../ports/storage.js';
import { must, caught, range, SLOW, type ConformanceKit } from './kit.js';

/** The storage contract's rules for LLM streams. */
export function defineStreamsCases(kit: ConformanceKit): void {
  const { db, clock, uid, newSession, post, sessionNow, lastSeq, streamStart, startStream } = kit;

  // ---- LLM streams ------------------------------------------------------------------------

  describe('streams', () => {
    it("createStream stores the prompt and the answer (consecutive seqs, as insertMessages would) and the row with status 'pending'", async () => {
      const session = await newSession();
      await post(session.id);
      const input = streamStart(session.id);
      const [question, answer] = input.messages as [NewMessage, NewMessage];
      const at = input.stream.at.toISOString();
      const result = await db().createStream(input);

      expect(result.messages.map((r) => [r.message.id, r.message.seq, r.message.changeSeq, r.created])).toEqual([
        [question.id, 2, 2, true],
        [answer.id, 3, 3, true],
      ]);
      expect(result.messages[0]?.message).toMatchObject({ userId: 'asker', role: 'user', content: 'What is the answer?', createdAt: at });
      expect(result.messages[1]?.message).toMatchObject({ userId: null, agentId: 'assistant', role: 'assistant', content: '', metadata: { status: 'streaming' } });
      for (const { message } of result.messages) expect(await db().getMessage(message.id)).toEqual(message);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });

      const expected: StreamRecord = {
        id: input.stream.id,
        sessionId: session.id,
        messageId: answer.id,
        promptMessageId: question.id,
        userId: 'asker',
        agentId: 'assistant',
        model: 'test-model',
        status: 'pending',
        finishReason: null,
        maxTokens: 100,
        tokensGenerated: 0,
        promptTokens: null,
        bytesEmitted: 0,
        errors: 0,
        errorMessage: null,
        nodeId: 'node-a',
        startedAt: at,
        firstTokenAt: null,
        completedAt: null,
        updatedAt: at,
      };
      expect(result.stream).toEqual(expected);
      expect(await db().getStream(input.stream.id)).toEqual(expected);

      const bare = await startStream(session.id, { agentId: null, model: null, maxTokens: null, nodeId: null });
      expect(bare).toMatchObject({ agentId: null, model: null, maxTokens: null, nodeId: null, status: 'pending' });
      expect(await db().getStream(bare.id)).toEqual(bare);
    });

    it('createStream is atomic: a failing message (an id already taken), a taken stream id or an unknown session writes nothing at all', async () => {
      const session = await newSession();
      const existing = await post(session.id);
      const badMessage = streamStart(session.id);
      badMessage.messages = [must(badMessage.messages[0]), { ...must(badMessage.messages[1]), id: existing.id }];
      await expect(db().createStream(badMessage)).rejects.toBeDefined();
      expect(await db().getStream(badMessage.stream.id)).toBeNull();
      expect(await db().getMessage(must(badMessage.messages[0]).id)).toBeNull();
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });

      const first = await startStream(session.id);
      const taken = streamStart(session.id, { id: first.id });
      const conflict = await caught(db().createStream(taken));
      expect(isChatError(conflict) && conflict.code).toBe('CONFLICT');
      for (const m of taken.messages) expect(await db().getMessage(m.id)).toBeNull();
      expect(await db().getStream(first.id)).toEqual(first);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });

      const orphan = streamStart(session.id, { sessionId: uid('missing') });
      const notFound = await caught(db().createStream({ stream: orphan.stream, messages: [] }));
      expect(isChatError(notFound) && notFound.code).toBe('NOT_FOUND');
      expect(await db().getStream(orphan.stream.id)).toBeNull();
      // The counter is intact: the next message still gets the next number.
      expect((await post(session.id)).seq).toBe(4);
    });

    it("createStream applies the clientMessageId rule: a retried prompt is the stored message (created: false) and the row points at it", async () => {
      const session = await newSession();
      const first = await db().createStream(streamStart(session.id, {}, { clientMessageId: 'ask-once' }));
      const retry = streamStart(session.id, {}, { clientMessageId: 'ask-once', content: 'asked again' });
      const second = await db().createStream(retry);
      const firstPrompt = must(first.messages[0]).message;
      expect(second.messages.map((r) => [r.message.id, r.created])).toEqual([
        [firstPrompt.id, false],
        [must(retry.messages[1]).id, true],
      ]);
      expect(second.messages[0]?.message).toEqual(await db().getMessage(firstPrompt.id));
      expect(second.stream).toMatchObject({ promptMessageId: firstPrompt.id, messageId: must(retry.messages[1]).id });
      expect(await db().getMessage(must(retry.messages[0]).id)).toBeNull();
      expect(await lastSeq(session.id)).toBe(3);
    });

    it('updateStream applies a partial patch: only the given fields change, updatedAt = at, nulls clear; message is null without a message patch', async () => {
      const session = await newSession();
      const started = await startStream(session.id);
      const firstToken = clock();
      const at1 = clock();
      const one = await db().updateStream(started.id, { status: 'streaming', firstTokenAt: firstToken, promptTokens: 12, at: at1 });
      const afterOne: StreamRecord = { ...started, status: 'streaming', firstTokenAt: firstToken.toISOString(), promptTokens: 12, updatedAt: at1.toISOString() };
      expect(one).toEqual({ stream: afterOne, message: null });
      expect(await db().getStream(started.id)).toEqual(afterOne);

      const at2 = clock();
      const two = await db().updateStream(started.id, { tokensGenerated: 40, bytesEmitted: 180, errors: 1, errorMessage: 'upstream 503, retried', at: at2 });
      const afterTwo: StreamRecord = { ...afterOne, tokensGenerated: 40, bytesEmitted: 180, errors: 1, errorMessage: 'upstream 503, retried', updatedAt: at2.toISOString() };
      expect(two?.stream).toEqual(afterTwo);

      const at3 = clock();
      const three = await db().updateStream(started.id, { errorMessage: null, promptTokens: null, firstTokenAt: null, at: at3 });
      expect(three?.stream).toEqual({ ...afterTwo, errorMessage: null, promptTokens: null, firstTokenAt: null, updatedAt: at3.toISOString() });

      const at4 = clock();
      const touched = await db().updateStream(started.id, { at: at4 });
      expect(touched?.stream).toEqual({ ...must(three).stream, updatedAt: at4.toISOString() });
      expect(await db().getStream(started.id)).toEqual(touched?.stream);
      // Metrics alone are no change to any message: no seq.
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('updateStream with a flush (bumpSeq: false) writes the answer without a seq; the final commit (bumpSeq: true) takes the next seq', async () => {
      const session = await newSession();
      const { stream, messages } = await db().createStream(streamStart(session.id));
      const answer = must(messages[1]).message;

      const at1 = clock();
      const flushed = must(
        await db().updateStream(
          stream.id,
          { status: 'streaming', tokensGenerated: 3, bytesEmitted: 14, firstTokenAt: at1, at: at1 },
          { patch: { content: 'Forty two is', tokens: 3, at: at1 }, bumpSeq: false },
        ),
      );
      expect(flushed.stream).toMatchObject({ status: 'streaming', tokensGenerated: 3, bytesEmitted: 14, updatedAt: at1.toISOString() });
      expect(flushed.message).toEqual({ ...answer, content: 'Forty two is', tokens: 3, updatedAt: at1.toISOString() });
      expect(await db().getMessage(answer.id)).toEqual(flushed.message);
      expect(await lastSeq(session.id)).toBe(2);
      expect(flushed.message?.changeSeq).toBe(2);
      expect((await db().searchMessages(session.id, ['forty'], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((m) => m.id)).toEqual([answer.id]);

      await post(session.id, { content: 'meanwhile' }); // 3
      const at2 = clock();
      const done = must(
        await db().updateStream(
          stream.id,
          { status: 'completed', finishReason: 'stop', tokensGenerated: 5, bytesEmitted: 20, completedAt: at2, at: at2 },
          { patch: { content: 'The answer is 42.', tokens: 5, metadata: { status: 'completed' }, at: at2 }, bumpSeq: true },
        ),
      );
      expect(done.message).toEqual({
        ...answer,
        content: 'The answer is 42.',
        tokens: 5,
        metadata: { status: 'completed' },
        updatedAt: at2.toISOString(),
        seq: 2,
        changeSeq: 4,
      });
      expect(await lastSeq(session.id)).toBe(4);
      expect(await db().getMessage(answer.id)).toEqual(done.message);
      expect(done.stream).toEqual({
        ...stream,
        status: 'completed',
        finishReason: 'stop',
        tokensGenerated: 5,
        bytesEmitted: 20,
        firstTokenAt: at1.toISOString(),
        completedAt: at2.toISOString(),
        updatedAt: at2.toISOString(),
      });
      expect(await db().getStream(stream.id)).toEqual(done.stream);
      expect((await db().getChangesSince(session.id, 3, 10)).map((m) => [m.id, m.changeSeq])).toEqual([[answer.id, 4]]);
    });

    it('updateStream returns null for an unknown stream and changes nothing; getStream returns null for an unknown id', async () => {
      const session = await newSession();
      const message = await post(session.id);
      expect(await db().updateStream(newId(), { status: 'completed', at: clock() })).toBeNull();
      expect(await db().updateStream(newId(), { status: 'completed', at: clock() }, { patch: { content: 'x', at: clock() }, bumpSeq: true })).toBeNull();
      expect(await db().getStream(newId())).toBeNull();
      expect(await db().getMessage(message.id)).toEqual(message);
      expect(await lastSeq(session.id)).toBe(1);
    });

    it('flushStream (when implemented) writes the answer and the counters of a running stream only: no seq, nothing else; false once it ended', async (ctx) => {
      if (!db().flushStream) return ctx.skip();
      const session = await newSession();
      const { stream, messages } = await db().createStream(streamStart(session.id));
      const answer = must(messages[1]).message;
      const at1 = clock();
      const flush = { content: 'Forty two is', tokens: 3, tokensGenerated: 3, bytesEmitted: 14, errors: 1, firstTokenAt: at1, at: at1 };
      expect(await db().flushStream!(stream.id, flush)).toBe(true);
      expect(await db().getMessage(answer.id)).toEqual({ ...answer, content: 'Forty two is', tokens: 3, updatedAt: at1.toISOString() });
      expect(await db().getStream(stream.id)).toEqual({
        ...stream,
        status: 'streaming',
        tokensGenerated: 3,
        bytesEmitted: 14,
        errors: 1,
        firstTokenAt: at1.toISOString(),
        updatedAt: at1.toISOString(),
      });
      expect(await lastSeq(session.id)).toBe(2);
      expect((await db().searchMessages(session.id, ['forty'], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((m) => m.id)).toEqual([answer.id]);

      const at2 = clock();
      expect(await db().flushStream!(stream.id, { ...flush, content: 'Forty two is the answer', tokens: 5, tokensGenerated: 5, at: at2 })).toBe(true);
      expect(await db().getMessage(answer.id)).toMatchObject({ content: 'Forty two is the answer', tokens: 5, changeSeq: 2, updatedAt: at2.toISOString() });

      // Ended (here: closed by another node's sweep): a late flush writes nothing.
      await db().updateStream(stream.id, { status: 'error', finishReason: 'node-lost', at: clock() });
      const ended = await db().getStream(stream.id);
      expect(await db().flushStream!(stream.id, { ...flush, content: 'overwritten?', at: clock() })).toBe(false);
      expect(await db().getStream(stream.id)).toEqual(ended);
      expect((await db().getMessage(answer.id))?.content).toBe('Forty two is the answer');
      expect(await db().flushStream!(newId(), flush)).toBe(false);
      expect(await lastSeq(session.id)).toBe(2);
    });

    it("an answer's parts: stored by a flush and the final commit, read back by every read; none stores none; a deleted answer has none", async () => {
      const session = await newSession();
      const { stream, messages } = await db().createStream(streamStart(session.id));
      const [question, created] = messages.map((r) => r.message) as [Message, Message];
      expect(created).not.toHaveProperty('parts');
      expect(question).not.toHaveProperty('parts');
      const call: MessagePart = { type: 'tool-call', toolCallId: 'call_1', toolName: 'lookup', input: { orderId: 'A-1', 'ünï': [1, null, { deep: true }] } };
      const result: MessagePart = { type: 'tool-result', toolCallId: 'call_1', toolName: 'lookup', output: { error: 'Timed out' }, isError: true };
      const soFar: MessagePart[] = [{ type: 'text', text: 'Let me look. ' }, call];

      const at1 = clock();
      if (db().flushStream) {
        const flush = { content: 'Let me look. ', parts: soFar, tokens: 4, tokensGenerated: 4, bytesEmitted: 13, errors: 0, firstTokenAt: at1, at: at1 };
        expect(await db().flushStream!(stream.id, flush)).toBe(true);
        expect((await db().getMessage(created.id))?.parts).toEqual(soFar);
        // A flush without parts leaves them as they are.
        expect(await db().flushStream!(stream.id, { ...flush, parts: undefined, at: clock() })).toBe(true);
        expect((await db().getMessage(created.id))?.parts).toEqual(soFar);
      } else {
        await db().updateStream(stream.id, { status: 'streaming', at: at1 }, { patch: { content: 'Let me look. ', parts: soFar, at: at1 }, bumpSeq: false });
        expect((await db().getMessage(created.id))?.parts).toEqual(soFar);
      }

      const parts: MessagePart[] = [...soFar, result, { type: 'text', text: '\n\nIt is late.' }];
      const at2 = clock();
      const done = must(
        await db().updateStream(
          stream.id,
          { status: 'completed', at: at2 },
          { patch: { content: 'Let me look. \n\nIt is late.', parts, metadata: { status: 'completed' }, at: at2 }, bumpSeq: true },
        ),
      );
      expect(done.message?.parts).toEqual(parts);
      const answer = must(done.message);
      expect(await db().getMessage(answer.id)).toEqual(answer);
      const page = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null });
      expect(page.messages.find((m) => m.id === answer.id)).toEqual(answer);
      expect(page.messages.find((m) => m.id === question.id)).not.toHaveProperty('parts');
      expect((await db().getChangesSince(session.id, 0, 10)).find((m) => m.id === answer.id)).toEqual(answer);
      expect((await db().searchMessages(session.id, ['late'], { limit: 10, offset: 0, maxCount: 1000 })).messages).toEqual([answer]);

      // Stored as given: changing the list afterwards changes nothing stored.
      parts.pop();
      expect((await db().getMessage(answer.id))?.parts).toHaveLength(4);
      // None (null or empty) is no `parts` at all.
      for (const none of [null, []]) {
        await db().updateMessage(answer.id, { parts: none, at: clock() }, { bumpSeq: false });
        expect(await db().getMessage(answer.id)).not.toHaveProperty('parts');
        await db().updateMessage(answer.id, { parts: soFar, at: clock() }, { bumpSeq: false });
      }
      await db().updateMessage(answer.id, { isDeleted: true, deletedAt: clock(), at: clock() }, { bumpSeq: true });
      const deleted = await db().getMessage(answer.id);
      expect(deleted).toMatchObject({ isDeleted: true, content: '' });
      expect(deleted).not.toHaveProperty('parts');
    });

    it('updateStream with expectedStatuses writes only when the row is in one of them (a stream is committed once)', async () => {
      const session = await newSession();
      const stream = await startStream(session.id);
      const before = await lastSeq(session.id);
      const commit = () =>
        db().updateStream(
          stream.id,
          { status: 'error', finishReason: 'node-lost', expectedStatuses: ['pending', 'streaming'], at: clock() },
          { patch: { metadata: { status: 'error' }, at: clock() }, bumpSeq: true },
        );
      const [first, second] = await Promise.all([commit(), commit()]);
      expect([first, second].filter((r) => r !== null)).toHaveLength(1);
      expect(await lastSeq(session.id)).toBe(before + 1);
      expect(await db().getStream(stream.id)).toMatchObject({ status: 'error', finishReason: 'node-lost' });
      expect(await commit()).toBeNull();
      expect(await db().updateStream(stream.id, { status: 'completed', expectedStatuses: [], at: clock() })).toBeNull();
      expect((await db().getStream(stream.id))?.status).toBe('error');
    });

    it("listStreams returns a session's streams in the given states, oldest first; [] for no states or an unknown session", async () => {
      const session = await newSession();
      const other = await newSession();
      const a = await startStream(session.id);
      const b = await startStream(session.id);
      const c = await startStream(session.id);
      const elsewhere = await startStream(other.id);
      await db().updateStream(b.id, { status: 'streaming', at: clock() });
      await db().updateStream(c.id, { status: 'completed', completedAt: clock(), at: clock() });
      await db().updateStream(a.id, { status: 'error', errorMessage: 'boom', at: clock() });

      const ids = async (statuses: StreamRecord['status'][]) => (await db().listStreams(session.id, statuses)).map((s) => s.id);
      expect(await ids(['pending', 'streaming'])).toEqual([b.id]);
      expect(await ids(['completed', 'streaming', 'error'])).toEqual([a.id, b.id, c.id]);
      expect(await ids(['stopped'])).toEqual([]);
      expect(await ids([])).toEqual([]);
      expect(await db().listStreams(session.id, ['streaming'])).toEqual([await db().getStream(b.id)]);
      expect((await db().listStreams(other.id, ['pending'])).map((s) => s.id)).toEqual([elsewhere.id]);
      expect(await db().listStreams(uid('missing'), ['pending', 'streaming'])).toEqual([]);
    });

    it('listStaleStreams returns pending/streaming streams of the node (or of any node with nodeId null) last updated before the cutoff', async () => {
      const session = await newSession();
      const nodeA = uid('node');
      const nodeB = uid('node');
      const pendingA = await startStream(session.id, { nodeId: nodeA });
      const streamingA = await startStream(session.id, { nodeId: nodeA });
      await db().updateStream(streamingA.id, { status: 'streaming', at: clock() });
      const streamingB = await startStream(session.id, { nodeId: nodeB });
      await db().updateStream(streamingB.id, { status: 'streaming', at: clock() });
      const noNode = await startStream(session.id, { nodeId: null });
      const finished = await Promise.all(
        (['completed', 'stopped', 'error'] as const).map(async (status) => {
          const s = await startStream(session.id, { nodeId: nodeA });
          await db().updateStream(s.id, { status, at: clock() });
          return s.id;
        }),
      );
      const fresh = await startStream(session.id, { nodeId: nodeA });
      const cutoff = clock();
      // Updated after the cutoff: alive, not stale.
      await db().updateStream(fresh.id, { status: 'streaming', tokensGenerated: 1, at: cutoff });
      const lateStart = await startStream(session.id, { nodeId: nodeA });

      const ids = async (nodeId: string | null, updatedBefore: Date) =>
        (await db().listStaleStreams({ nodeId, updatedBefore })).map((s) => s.id);
      expect(await ids(nodeA, cutoff)).toEqual([pendingA.id, streamingA.id]);
      expect(await ids(nodeB, cutoff)).toEqual([streamingB.id]);
      expect(await ids(uid('node'), cutoff)).toEqual([]);
      // Any node: other cases' streams may show up too, so only ours are checked.
      const mine = new Set([pendingA.id, streamingA.id, streamingB.id, noNode.id, ...finished, fresh.id, lateStart.id]);
      expect((await ids(null, cutoff)).filter((id) => mine.has(id))).toEqual([pendingA.id, streamingA.id, streamingB.id, noNode.id]);
      // The cutoff is exclusive and moves with it.
      expect(await ids(nodeA, new Date(Date.parse(pendingA.updatedAt)))).toEqual([]);
      const later = new Date(Date.parse(lateStart.updatedAt) + 1);
      expect(await ids(nodeA, later)).toEqual([pendingA.id, streamingA.id, fresh.id, lateStart.id]);
      const stale = await db().listStaleStreams({ nodeId: nodeA, updatedBefore: cutoff });
      expect(stale[1]).toEqual(await db().getStream(streamingA.id));
    });

    it(
      'concurrent createStream and updateStream calls in one session take distinct, gapless seqs (prompt and answer consecutive)',
      async () => {
        const session = await newSession();
        const started = await Promise.all(Array.from({ length: 20 }, () => db().createStream(streamStart(session.id))));
        for (const { messages } of started) expect(must(messages[1]).message.seq).toBe(must(messages[0]).message.seq + 1);
        const seqs = started.flatMap(({ messages }) => messages.map((r) => r.message.seq));
        expect([...seqs].sort((x, y) => x - y)).toEqual(range(1, 40));
        const commits = await Promise.all(
          started.map(async ({ stream }) => {
            const at = clock();
            const done = await db().updateStream(stream.id, { status: 'completed', at }, { patch: { content: 'done', at }, bumpSeq: true });
            return must(must(done).message).changeSeq;
          }),
        );
        expect([...commits].sort((x, y) => x - y)).toEqual(range(41, 60));
        expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 60, messageCount: 40 });
        expect(await db().listStreams(session.id, ['pending', 'streaming'])).toEqual([]);
      },
      SLOW,
    );
  });
}
