import { z } from 'zod';
import { STORABLE_TEXT, STORABLE_TEXT_MESSAGE } from './text.js';

/**
 * `metadata` objects: plain JSON, at most {@link MAX_DEPTH} levels deep, without keys that could
 * pollute a prototype when a client merges the object, with storable keys and strings at every
 * depth, and at most `maxBytes` once serialised.
 *
 * The check walks the value by hand (one pass, and a refusal names the path of the offending
 * value); its JSON Schema, attached as zod metadata, says the same with one definition per depth.
 * Only the byte budget has no JSON Schema keyword: it travels as `x-maxJsonBytes`.
 */

export const MAX_DEPTH = 10;
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];
const FORBIDDEN = new Set(FORBIDDEN_KEYS);

interface Problem {
  path: (string | number)[];
  message: string;
}

function checkJsonValue(value: unknown, depth: number, path: (string | number)[]): Problem | null {
  if (depth > MAX_DEPTH) return { path, message: `is nested too deeply (max ${MAX_DEPTH} levels)` };
  if (value === null || typeof value === 'boolean') return null;
  if (typeof value === 'string') return STORABLE_TEXT.test(value) ? null : { path, message: STORABLE_TEXT_MESSAGE };
  if (typeof value === 'number') return Number.isFinite(value) ? null : { path, message: 'contains a non-finite number' };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = checkJsonValue(value[i], depth + 1, [...path, i]);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return { path, message: 'must be plain JSON' };
    for (const key of Object.keys(value)) {
      if (FORBIDDEN.has(key)) return { path, message: `must not contain the key "${key}"` };
      if (!STORABLE_TEXT.test(key)) return { path, message: `has a key that ${STORABLE_TEXT_MESSAGE}` };
      const problem = checkJsonValue((value as Record<string, unknown>)[key], depth + 1, [...path, key]);
      if (problem) return problem;
    }
    return null;
  }
  return { path, message: 'must be plain JSON' };
}

const definitionName = (depth: number) => `MetadataValue${depth}`;

/**
 * The JSON Schema of a metadata object. Each depth has its own definition, in `$defs` (the OpenAPI
 * generator moves them to `components.schemas`): a value at depth `d` may hold containers whose
 * members are at `d + 1`, and nothing may sit deeper than {@link MAX_DEPTH}.
 */
function metadataJsonSchema(maxBytes: number): Record<string, unknown> {
  const propertyNames = { pattern: STORABLE_TEXT.source, not: { enum: FORBIDDEN_KEYS } };
  const members = (depth: number) => (depth > MAX_DEPTH ? false : { $ref: `#/$defs/${definitionName(depth)}` });
  const $defs: Record<string, unknown> = {};
  for (let depth = 1; depth <= MAX_DEPTH; depth++) {
    $defs[definitionName(depth)] = {
      description: `A metadata value at depth ${depth} (the object's own values are at depth 1)`,
      type: ['null', 'boolean', 'number', 'string', 'array', 'object'],
      pattern: STORABLE_TEXT.source,
      items: members(depth + 1),
      propertyNames,
      additionalProperties: members(depth + 1),
    };
  }
  return {
    type: 'object',
    description: `Plain JSON, at most ${MAX_DEPTH} levels deep and ${maxBytes} bytes as JSON (x-maxJsonBytes)`,
    propertyNames,
    additionalProperties: members(1),
    'x-maxJsonBytes': maxBytes,
    $defs,
  };
}

/** A plain JSON object, bounded in size and depth, without prototype-polluting keys. */
export function jsonObjectSchema(maxBytes: number) {
  return z
    .custom<Record<string, unknown>>()
    .superRefine((value, ctx) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
        return;
      }
      const problem = checkJsonValue(value, 0, []);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
        return;
      }
      if (Buffer.byteLength(JSON.stringify(value)) > maxBytes) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${maxBytes} bytes as JSON` });
      }
    })
    .meta(metadataJsonSchema(maxBytes));
}
