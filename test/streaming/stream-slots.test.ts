import { ChatError } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { StreamSlots } from '../../src/streams/stream-slots.js';

const refusal = (take: () => unknown) => {
  try {
    take();
  } catch (error) {
    return error as ChatError;
  }
  throw new Error('expected LIMIT_EXCEEDED, but the slot was given');
};

describe('StreamSlots: the caps on answers streaming at once', () => {
  it('a user holding their cap is refused, saying so, until one of theirs ends; the count stays right after that', () => {
    const slots = new StreamSlots(10, 2);
    const first = slots.take('alice');
    slots.take('alice');
    expect(refusal(() => slots.take('alice'))).toMatchObject({ code: 'LIMIT_EXCEEDED', message: 'You already have 2 answers streaming; stop one or wait' });
    first();
    slots.take('alice'); // the freed slot
    expect(refusal(() => slots.take('alice')).code).toBe('LIMIT_EXCEEDED'); // still two running
    expect(slots.size).toBe(2);
    slots.take('bob'); // another user's cap is their own
  });

  it('the node cap holds across users, and a release given twice frees one slot', () => {
    const slots = new StreamSlots(2, 5);
    const release = slots.take('alice');
    slots.take('bob');
    expect(refusal(() => slots.take('carol'))).toMatchObject({ code: 'LIMIT_EXCEEDED', message: 'Too many answers streaming (at most 2 at once); try again shortly' });
    release();
    release();
    expect(slots.size).toBe(1);
    slots.take('carol');
    expect(refusal(() => slots.take('dave')).code).toBe('LIMIT_EXCEEDED');
  });
});
