import { v7 as uuidv7 } from 'uuid';

/** Time-ordered ids (UUIDv7) for messages, reactions, attachments and streams. */
export function newId(): string {
  return uuidv7();
}
