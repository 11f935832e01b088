import { type NewMessage, type StorageAdapter } from 'parley-chat';
import { newId } from '../../src/ids.js';

/** A message as the engine would hand it to `insertMessages`, with `fields` overriding. */
export const draft = (sessionId: string, fields: Partial<NewMessage> = {}): NewMessage => ({
  id: newId(),
  sessionId,
  userId: 'alice',
  agentId: null,
  role: 'user',
  content: 'hello',
  metadata: null,
  tokens: null,
  parentMessageId: null,
  clientMessageId: null,
  attachments: [],
  at: new Date(),
  ...fields,
});

/** A session owned by alice, straight through the adapter. */
export const newSession = (storage: StorageAdapter, id = newId()) =>
  storage.createSession({ id, title: null, createdBy: 'alice', metadata: null, memberIds: [], at: new Date() });

/** The error `promise` rejects with (fails if it resolves). */
export async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}
