import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { normalizeText } from '../../src/moderation/normalize.js';

/**
 * Data from an OpenAPI document, the way a schema-driven tester (schemathesis) makes it: values the
 * document calls valid, and values that break exactly one of its constraints. Validity is decided
 * by ajv (JSON Schema 2020-12, patterns with the `u` flag) on the document itself, plus the
 * document's two `x-` keywords, which no JSON Schema keyword can say.
 */

export type Schema = Record<string, any>;
type Validate = (value: unknown) => boolean;

const DOC_ID = 'https://parley.test/openapi.json';
const COMPONENT_REF = '#/components/schemas/';

/** Characters that find the edges of text rules: blanks, invisibles, controls, surrogates, NFKC. */
const EDGE_CHARACTERS = [
  ' ', '\t', '\n', '\r', '\u00A0', '\u3000', '\u200B', '\u200D', '\u2060', '\uFEFF', '\uFE0F', '\u00AD', '\u3164',
  '\u0000', '\u0001', '\u007F', '\u0085', '\uD800', '\uDC00', '\u037A', '\u2026', '\uFDFA', '\u2460', '\u338F',
  'a', 'Z', '7', '\u00E9', '\u4E2D', '\u{1F44D}', '\u{1F3FD}', '\u2764', '!', '*', '-', ':', '/', '.', '%', '@', '|', '_',
];

const without = (schema: Schema, keyword: string): Schema => {
  const { [keyword]: _dropped, ...rest } = schema;
  return rest;
};

export class OpenApiData {
  readonly #doc: Schema;
  readonly #ajv: InstanceType<typeof Ajv2020>;
  readonly #validators = new WeakMap<Schema, Validate>();
  readonly #validatorsByText = new Map<string, Validate>();
  /** Generators by schema (and name, depth): the same parameter or component recurs across routes. */
  readonly #made = new WeakMap<Schema, Map<string, fc.Arbitrary<unknown>>>();
  /** fast-check takes a while to read a large pattern (the URL grammar): once per pattern. */
  readonly #matching = new Map<string, fc.Arbitrary<string> | null>();
  /** Real values for parameters and properties of these names, so some requests reach real resources. */
  readonly #known: Record<string, readonly string[]>;

  constructor(doc: Schema, known: Record<string, readonly string[]> = {}) {
    this.#doc = doc;
    this.#known = known;
    this.#ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
    addFormats(this.#ajv);
    this.#ajv.addSchema(doc, DOC_ID);
  }

  /** The schema a `$ref` points at (components only), or the schema itself. */
  resolve(schema: Schema): Schema {
    let current = schema;
    while (typeof current.$ref === 'string') {
      if (!current.$ref.startsWith(COMPONENT_REF)) throw new Error(`unexpected $ref ${current.$ref}`);
      current = this.#doc.components.schemas[current.$ref.slice(COMPONENT_REF.length)];
    }
    return current;
  }

  /** Whether the document calls `value` valid for `schema` (a schema of the document or a piece of one). */
  valid(schema: Schema | boolean, value: unknown): boolean {
    if (typeof schema === 'boolean') return schema;
    return this.#validator(schema)(value) && this.#extensionsHold(schema, value);
  }

  #validator(schema: Schema): Validate {
    let validate = this.#validators.get(schema);
    if (validate) return validate;
    const text = JSON.stringify(schema);
    validate = this.#validatorsByText.get(text);
    if (!validate) {
      // References inside a piece of the document are relative to the document.
      validate = this.#ajv.compile(JSON.parse(text.replaceAll(`"${COMPONENT_REF}`, `"${DOC_ID}${COMPONENT_REF}`))) as Validate;
      this.#validatorsByText.set(text, validate);
    }
    this.#validators.set(schema, validate);
    return validate;
  }

  /** `x-maxJsonBytes` and `x-maxLengthAfterNormalization`, wherever they sit in `schema`. */
  #extensionsHold(schema: Schema, value: unknown): boolean {
    const s = this.resolve(schema);
    const bytes = s['x-maxJsonBytes'];
    if (typeof bytes === 'number' && value !== undefined && Buffer.byteLength(JSON.stringify(value)) > bytes) return false;
    const chars = s['x-maxLengthAfterNormalization'];
    if (typeof chars === 'number' && typeof value === 'string' && normalizeText(value).length > chars) return false;
    if (Array.isArray(value) && s.items && typeof s.items === 'object') return value.every((item) => this.#extensionsHold(s.items, item));
    if (value && typeof value === 'object' && !Array.isArray(value) && s.properties) {
      return Object.entries(value).every(([k, v]) => !s.properties[k] || this.#extensionsHold(s.properties[k], v));
    }
    return true;
  }

  // ---- valid values -----------------------------------------------------------------------------

  /** Values the document calls valid for `schema`; `name` is the property or parameter it fills. */
  #memo(schema: Schema | boolean, key: string, make: () => fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
    if (typeof schema === 'boolean') return make();
    let bySchema = this.#made.get(schema);
    if (!bySchema) this.#made.set(schema, (bySchema = new Map()));
    let arbitrary = bySchema.get(key);
    if (!arbitrary) bySchema.set(key, (arbitrary = make()));
    return arbitrary;
  }

  valid$(schema: Schema | boolean, name?: string, depth = 0): fc.Arbitrary<unknown> {
    return this.#memo(schema, `valid ${name} ${depth}`, () => this.#valid(schema, name, depth));
  }

  #valid(schema: Schema | boolean, name: string | undefined, depth: number): fc.Arbitrary<unknown> {
    if (schema === false) throw new Error('no value is valid for `false`');
    const candidates = this.#candidates(schema === true ? {} : schema, name, depth);
    // Inside a value, containers of valid members need no check of their own (it costs a walk).
    const container = depth > 0 && typeof schema === 'object' && ['object', 'array'].includes(this.resolve(schema).type);
    const arbitrary = container ? candidates : candidates.filter((v) => this.valid(schema, v));
    const known = name ? this.#known[name]?.filter((v) => this.valid(schema, v)) : undefined;
    return known?.length ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary }) : arbitrary;
  }

  #candidates(schema: Schema, name: string | undefined, depth: number): fc.Arbitrary<unknown> {
    const s = this.resolve(schema);
    if (s.enum) return fc.constantFrom(...s.enum);
    if (s.anyOf) return fc.oneof(...s.anyOf.map((branch: Schema) => this.valid$(branch, name, depth)));
    const types: string[] = Array.isArray(s.type) ? s.type : s.type ? [s.type] : ['string', 'integer', 'boolean', 'null'];
    // Deep inside recursive schemas, containers stay empty so generation ends.
    const shallow = depth >= 3 ? types.filter((t) => t !== 'array' && t !== 'object') : types;
    return fc.oneof(...(shallow.length > 0 ? shallow : types).map((type) => this.#ofType(type, s, depth)));
  }

  #ofType(type: string, s: Schema, depth: number): fc.Arbitrary<unknown> {
    switch (type) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'integer':
      case 'number': {
        const min = s.minimum ?? -1_000_000;
        const max = s.maximum ?? 1_000_000;
        const edges = fc.constantFrom(min, max, Math.min(max, Math.max(min, 0)));
        const any = type === 'integer' ? fc.integer({ min, max }) : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
        return fc.oneof(edges, any);
      }
      case 'string':
        return this.#strings(s);
      case 'array': {
        if (s.items === false) return fc.constant([]);
        return fc.array(this.valid$(s.items ?? {}, undefined, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, 3) });
      }
      case 'object': {
        if (s.properties) {
          const required: string[] = s.required ?? [];
          const shape = Object.fromEntries(Object.entries(s.properties).map(([key, value]) => [key, this.valid$(value as Schema, key, depth + 1)]));
          return fc.record(shape, { requiredKeys: required });
        }
        if (s.additionalProperties === false || s.additionalProperties === undefined) return fc.constant({});
        const key = this.valid$({ type: 'string', ...(s.propertyNames ?? {}) }) as fc.Arbitrary<string>;
        return fc.dictionary(key, this.valid$(s.additionalProperties, undefined, depth + 1), { maxKeys: 3 });
      }
      default:
        throw new Error(`unexpected type ${type}`);
    }
  }

  /** Strings from the schema's own patterns (where fast-check can read them) and from edge characters. */
  #strings(s: Schema): fc.Arbitrary<string> {
    const patterns: string[] = [s.pattern, ...(s.allOf ?? []).map((p: Schema) => p.pattern)].filter((p) => typeof p === 'string');
    const max = Math.min(s.maxLength ?? 40, 40);
    const fromPatterns = patterns.flatMap((pattern) => {
      if (!this.#matching.has(pattern)) {
        try {
          this.#matching.set(pattern, fc.stringMatching(new RegExp(pattern, 'u')));
        } catch {
          this.#matching.set(pattern, null); // a construct fast-check cannot generate from (lookahead); the other sources cover it
        }
      }
      const matching = this.#matching.get(pattern);
      return matching ? [matching] : [];
    });
    const text = fc.string({ unit: fc.oneof(fc.constantFrom(...EDGE_CHARACTERS), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: max });
    const sized = s.minLength > 40 || s.maxLength > 1000 ? [text.map((t) => t.padEnd(s.minLength ?? 0, 'a'))] : [];
    return fc.oneof(...fromPatterns, text, fc.string({ unit: 'grapheme', maxLength: max }), ...sized);
  }

  // ---- values breaking one constraint -----------------------------------------------------------

  /**
   * Values that break exactly one constraint of `schema`: each is valid once that one keyword (or
   * one property's constraint) is taken away, and invalid with it.
   */
  invalid$(schema: Schema, name?: string): fc.Arbitrary<unknown> {
    return this.#memo(schema, `invalid ${name}`, () => this.#invalid(schema, name));
  }

  #invalid(schema: Schema, name: string | undefined): fc.Arbitrary<unknown> {
    const s = this.resolve(schema);
    const options: fc.Arbitrary<unknown>[] = [];
    // A keyword the others already imply (a pattern that bounds the length) cannot be broken alone:
    // its candidates are tried first, and the keyword is skipped when none of them breaks it alone.
    const breaking = (keyword: string, candidates: fc.Arbitrary<unknown>) => {
      const relaxed = without(s, keyword);
      const alone = (v: unknown) => !this.valid(s, v) && this.valid(relaxed, v);
      const found = fc.sample(candidates, { numRuns: 30, seed: 1 }).filter(alone);
      if (found.length > 0) options.push(fc.oneof(fc.constantFrom(...found), candidates.filter(alone)));
    };
    const type = Array.isArray(s.type) ? null : s.type;
    if (type) breaking('type', fc.constantFrom<unknown>(42, 'text', true, null, [], {}, 1.5));
    if (type === 'string') {
      const sample = this.valid$(s, name) as fc.Arbitrary<string>;
      if (s.maxLength !== undefined) breaking('maxLength', sample.map((v) => v + (v.at(-1) ?? 'a').repeat(s.maxLength + 1 - v.length)));
      if (s.minLength) breaking('minLength', fc.constant(''));
      const text = fc.string({ unit: fc.constantFrom(...EDGE_CHARACTERS), maxLength: 12 });
      if (s.pattern) breaking('pattern', fc.oneof(text, sample.map((v) => `${v}\u0000`), sample.map((v) => ` ${v}`)));
      if (s.allOf) breaking('allOf', fc.oneof(text, sample.chain((v) => fc.constantFrom(...EDGE_CHARACTERS).map((c) => v + c))));
      if (s.enum) breaking('enum', text);
      if (s['x-maxLengthAfterNormalization'] !== undefined) {
        breaking('x-maxLengthAfterNormalization', fc.constant('\u2026'.repeat(Math.min(s.maxLength ?? Infinity, s['x-maxLengthAfterNormalization']))));
      }
    }
    if (type === 'integer' || type === 'number') {
      if (s.minimum !== undefined) breaking('minimum', fc.constantFrom(s.minimum - 1, s.minimum - 1000));
      if (s.maximum !== undefined) breaking('maximum', fc.constantFrom(s.maximum + 1, s.maximum * 2));
      if (type === 'integer') breaking('type', fc.constantFrom(1.5, (s.minimum ?? 0) + 0.25));
    }
    if (type === 'object') {
      const sample = this.valid$(s, name) as fc.Arbitrary<Record<string, unknown>>;
      for (const key of s.required ?? []) breaking('required', sample.map(({ [key]: _gone, ...rest }) => rest));
      if (s.additionalProperties === false) breaking('additionalProperties', sample.map((v) => ({ ...v, unexpected: 1 })));
      for (const [key, property] of Object.entries<Schema>(s.properties ?? {})) {
        // One property broken, everything else valid.
        options.push(
          fc.tuple(sample, this.invalid$(property, key)).map(([v, bad]) => ({ ...v, [key]: bad })).filter((v) => !this.valid(s, v)),
        );
      }
      if (s['x-maxJsonBytes'] !== undefined) breaking('x-maxJsonBytes', fc.constant({ big: 'x'.repeat(s['x-maxJsonBytes']) }));
      if (s.propertyNames) breaking('propertyNames', fc.constantFrom<unknown>({ __proto__x: 1, constructor: 1 }, { 'a\u0000': 1 }, { prototype: { a: 1 } }));
    }
    if (type === 'array' && s.items) {
      const item = this.valid$(s.items);
      if (s.maxItems !== undefined) breaking('maxItems', fc.array(item, { minLength: s.maxItems + 1, maxLength: s.maxItems + 1 }));
      options.push(fc.tuple(fc.array(item, { maxLength: 1 }), this.invalid$(s.items)).map(([rest, bad]) => [...rest, bad]));
    }
    if (s.anyOf) breaking('anyOf', fc.string({ unit: fc.constantFrom(...EDGE_CHARACTERS), maxLength: 6 }));
    if (options.length === 0) throw new Error(`no constraint to break in ${JSON.stringify(s).slice(0, 200)}`);
    return fc.oneof(...options);
  }

  /** The schema of a response, as the document declares it for `status` (undefined: not declared). */
  responseSchema(operation: Schema, status: number): Schema | undefined {
    let response = operation.responses[String(status)];
    if (!response) return undefined;
    if (response.$ref) response = this.#doc.components.responses[response.$ref.split('/').pop()];
    return response.content?.['application/json']?.schema ?? {};
  }
}
