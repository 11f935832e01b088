/**
 * What every group of the storage conformance suite uses: the adapter, a clock that ticks one second
 * per call, id makers, and builders for sessions, messages, reactions and streams.
 */
import { expect } from 'vitest';
import { isChatError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Message, MessagePage, Reaction, Session } from '../../model.js';
import type { NewAttachment, NewMessage, NewSession, NewStream, StorageAdapter } from '../../ports/storage.js';

/** Heavy cases (hundreds of concurrent writes) get more than vitest's default 5 s. */
export const SLOW = 60_000;

export type ConformanceKit = ReturnType<typeof conformanceKit>;

/** The fixtures over `db`, the adapter under test (created by the suite's `beforeAll`). */
export function conformanceKit(db: () => StorageAdapter) {
  // A fake engine clock: every call is one second later, so "newest" and "in the order made" are unambiguous.
  const base = Date.UTC(2024, 0, 1, 12, 0, 0);
  let ticks = 0;
  const clock = (): Date => new Date(base + ++ticks * 1000);

  const uid = (prefix: string): string => `${prefix}-${newId()}`;

  /** Awaits `call` (started just before, so no rejection goes unhandled) and checks its ChatError code. */
  const expectCode = async (call: Promise<unknown>, code: string): Promise<void> => {
    const error = await call.then(() => null, (e: unknown) => e);
    expect(isChatError(error) && error.code, String(error)).toBe(code);
  };

  const newSession = (input: Partial<NewSession> = {}): Promise<Session> =>
    db().createSession({
      id: uid('session'),
      title: 'Conformance',
      createdBy: uid('owner'),
      metadata: null,
      memberIds: [],
      at: clock(),
      ...input,
    });

  const draft = (sessionId: string, fields: Partial<NewMessage> = {}): NewMessage => ({
    id: newId(),
    sessionId,
    userId: 'author',
    agentId: null,
    role: 'user',
    content: 'hello',
    metadata: null,
    tokens: null,
    parentMessageId: null,
    clientMessageId: null,
    attachments: [],
    at: clock(),
    ...fields,
  });

  const attachment = (fields: Partial<NewAttachment> = {}): NewAttachment => ({
    id: newId(),
    fileName: 'report.pdf',
    fileUrl: 'https://files.example.com/report.pdf',
    mimeType: 'application/pdf',
    fileSize: 1234,
    metadata: null,
    ...fields,
  });

  /** Inserts one message and returns it (it must be created). */
  const post = async (sessionId: string, fields: Partial<NewMessage> = {}): Promise<Message> => {
    const [result] = await db().insertMessages([draft(sessionId, fields)]);
    expect(result?.created).toBe(true);
    return must(result).message;
  };

  const sessionNow = async (sessionId: string): Promise<Session> => must(await db().getSession(sessionId));
  const lastSeq = async (sessionId: string): Promise<number> => (await sessionNow(sessionId)).lastSeq;

  const react = (messageId: string, userId: string, emoji: string, action: 'add' | 'remove' | 'toggle') =>
    db().setReaction({ id: newId(), messageId, userId, emoji, action, at: clock() });

  const softDelete = (messageId: string) => {
    const at = clock();
    return db().updateMessage(messageId, { content: '', isDeleted: true, deletedAt: at, at }, { bumpSeq: true });
  };

  /** The two messages a stream starts with (the prompt, then the empty answer) and the stream itself. */
  const streamStart = (sessionId: string, fields: Partial<NewStream> = {}, prompt: Partial<NewMessage> = {}) => {
    const at = fields.at ?? clock();
    const question = draft(sessionId, { userId: 'asker', content: 'What is the answer?', at, ...prompt });
    const answer = draft(sessionId, { userId: null, agentId: 'assistant', role: 'assistant', content: '', metadata: { status: 'streaming' }, at });
    const stream: NewStream = {
      id: newId(),
      sessionId,
      messageId: answer.id,
      promptMessageId: question.id,
      userId: 'asker',
      agentId: 'assistant',
      model: 'test-model',
      maxTokens: 100,
      nodeId: 'node-a',
      at,
      ...fields,
    };
    return { stream, messages: [question, answer] };
  };

  const startStream = async (sessionId: string, fields: Partial<NewStream> = {}) => {
    const result = await db().createStream(streamStart(sessionId, fields));
    return result.stream;
  };

  return { db, clock, uid, expectCode, newSession, draft, attachment, post, sessionNow, lastSeq, react, softDelete, streamStart, startStream };
}

// ---- helpers ----------------------------------------------------------------------------

export function must<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected a value, got ' + String(value));
  return value;
}

export async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** The contract orders users within a group, not the groups themselves. */
export function byEmoji(reactions: readonly Reaction[]): Reaction[] {
  return [...reactions].sort((a, b) => (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0));
}

/** A page's message texts, in page order. */
export function contents(page: MessagePage): string[] {
  return page.messages.map((m) => m.content);
}
