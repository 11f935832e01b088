import type { ChatEngine } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { expectChatError, memoryEngine } from '../support/engine.js';

// The rules a `metadata` object must follow (docs/engine.md, docs/protocol.md): plain JSON, at most ten levels deep, no
// prototype-polluting keys, at most `maxMetadataBytes` as JSON. A refusal names the offending path.

/** `{ a: { a: … leaf } }` with the leaf `levels` levels down (the object's own values are level 1). */
function nested(levels: number, leaf: unknown = 'x', wrap = (v: unknown): unknown => ({ a: v })): Record<string, unknown> {
  let value = leaf;
  for (let i = 1; i < levels; i++) value = wrap(value);
  return { a: value };
}

async function refusal(engine: ChatEngine, metadata: unknown): Promise<string> {
  const before = (await engine.listSessions('alice')).length;
  const error = await expectChatError(engine.createSession({ createdBy: 'alice', metadata: metadata as Record<string, unknown> }), 'VALIDATION');
  expect((await engine.listSessions('alice')).length).toBe(before);
  return error.message;
}

const stored = async (engine: ChatEngine, metadata: unknown) =>
  (await engine.createSession({ createdBy: 'alice', metadata: metadata as Record<string, unknown> })).metadata;

describe('metadata rules', () => {
  it('takes every JSON value: null, booleans, numbers, strings, arrays and objects, and an object without prototype', async () => {
    const engine = await memoryEngine();
    const all = { none: null, yes: true, no: false, n: -1.5, s: 'text', list: [null, false, 0, ''], obj: { inner: true } };
    expect(await stored(engine, all)).toEqual(all);
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: 'v' });
    expect(await stored(engine, bare)).toEqual({ k: 'v' });
  });

  it('takes ten levels of objects or arrays and refuses an eleventh, naming where', async () => {
    const engine = await memoryEngine();
    expect(await stored(engine, nested(10))).toEqual(nested(10));
    const inArrays = nested(10, 'x', (v) => [v]);
    expect(await stored(engine, inArrays)).toEqual(inArrays);
    const path = `session.metadata${'.a'.repeat(11)}`;
    expect(await refusal(engine, nested(11, 'x'))).toBe(`Invalid ${path}: is nested too deeply (max 10 levels)`);
    expect(await refusal(engine, nested(11, 'x', (v) => [v]))).toBe(`Invalid session.metadata.a${'.0'.repeat(10)}: is nested too deeply (max 10 levels)`);
    // an empty container is a value too: at level eleven it is as deep as anything else there
    expect(await refusal(engine, nested(11, {}))).toMatch(/nested too deeply/);
  });

  it('refuses what JSON cannot say: non-finite numbers, class instances, functions, undefined, bigint', async () => {
    const engine = await memoryEngine();
    expect(await refusal(engine, { ok: 1, n: Number.NaN })).toBe('Invalid session.metadata.n: contains a non-finite number');
    expect(await refusal(engine, { list: [1, Number.POSITIVE_INFINITY] })).toBe('Invalid session.metadata.list.1: contains a non-finite number');
    expect(await refusal(engine, { when: new Date(0) })).toBe('Invalid session.metadata.when: must be plain JSON');
    expect(await refusal(engine, { map: new Map() })).toBe('Invalid session.metadata.map: must be plain JSON');
    expect(await refusal(engine, { f: () => 1 })).toBe('Invalid session.metadata.f: must be plain JSON');
    expect(await refusal(engine, { u: undefined })).toBe('Invalid session.metadata.u: must be plain JSON');
    expect(await refusal(engine, { big: 1n })).toBe('Invalid session.metadata.big: must be plain JSON');
  });

  it('checks every member, not only the first', async () => {
    const engine = await memoryEngine();
    expect(await refusal(engine, { first: 'ok', second: { deep: 'ok', bad: Number.NaN } })).toBe('Invalid session.metadata.second.bad: contains a non-finite number');
    expect(await refusal(engine, { list: ['ok', 'fine', Number.NaN] })).toBe('Invalid session.metadata.list.2: contains a non-finite number');
  });

  it('refuses a key that could pollute a prototype when a client merges the object, at any depth', async () => {
    const engine = await memoryEngine();
    expect(await refusal(engine, { nested: { constructor: { prototype: 1 } } })).toBe(
      'Invalid session.metadata.nested: must not contain the key "constructor"',
    );
    expect(await refusal(engine, { prototype: 1 })).toBe('Invalid session.metadata: must not contain the key "prototype"');
    expect(await refusal(engine, JSON.parse('{"a":[{"__proto__":{"admin":true}}]}'))).toBe(
      'Invalid session.metadata.a.0: must not contain the key "__proto__"',
    );
  });

  it('refuses a key no storage can keep, naming the object that holds it', async () => {
    const engine = await memoryEngine();
    expect(await refusal(engine, { a: { 'k\u0000': 1 } })).toMatch(/^Invalid session\.metadata\.a: has a key that /);
  });

  it('must be an object: not an array, null, a string or a number', async () => {
    const engine = await memoryEngine();
    for (const metadata of [[1, 2], null, 'text', 3]) {
      expect(await refusal(engine, metadata)).toBe('Invalid session.metadata: must be a JSON object');
    }
  });

  it('takes exactly maxMetadataBytes of JSON, counted in bytes, and refuses one more', async () => {
    const engine = await memoryEngine({ limits: { maxMetadataBytes: 40 } });
    // {"s":"…"} is 8 bytes around the string
    expect(await stored(engine, { s: 'x'.repeat(32) })).toEqual({ s: 'x'.repeat(32) });
    expect(await refusal(engine, { s: 'x'.repeat(33) })).toBe('Invalid session.metadata: must be at most 40 bytes as JSON');
    // 'é' is one character and two bytes
    expect(await refusal(engine, { s: 'é'.repeat(17) })).toBe('Invalid session.metadata: must be at most 40 bytes as JSON');
    expect(await stored(engine, { s: 'é'.repeat(16) })).toEqual({ s: 'é'.repeat(16) });
  });
});
