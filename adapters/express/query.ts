import { z } from 'zod';
import { ChatError } from '../../src/errors.js';

/** Whether a field of a query schema takes a number (looking through optional/default/nullable). */
function isNumberField(schema: z.ZodType): boolean {
  let current: z.ZodType = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault) current = current.unwrap() as z.ZodType;
    else return current instanceof z.ZodNumber;
  }
}

const DECIMAL_INTEGER = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * Turns a query string object into the input of `schema`: numeric fields become numbers only when
 * they are plain decimal integers (`10`, not `1e1`, `0x10`, ` 10`, `10.0` or empty), anything else is
 * left as a string for the schema to refuse. A repeated or nested parameter (`?limit=1&limit=2`,
 * `?limit[a]=1`) is refused here, whichever query parser the host's Express uses.
 */
export function coerceQuery(schema: z.ZodObject, query: unknown): Record<string, unknown> {
  // Entries, not assignment: a `__proto__` parameter must stay an ordinary (refused) key.
  const out: [string, unknown][] = [];
  if (typeof query !== 'object' || query === null) return {};
  const shape = schema.shape as Record<string, z.ZodType>;
  for (const [key, value] of Object.entries(query as Record<string, unknown>)) {
    if (typeof value !== 'string') {
      throw new ChatError('VALIDATION', `Invalid query.${key}: must be given once, as a plain value`, {
        details: { issues: [{ path: key, message: 'must be given once, as a plain value' }] },
      });
    }
    const field = Object.hasOwn(shape, key) ? shape[key] : undefined;
    out.push([key, field !== undefined && isNumberField(field) && DECIMAL_INTEGER.test(value) ? Number(value) : value]);
  }
  return Object.fromEntries(out);
}
