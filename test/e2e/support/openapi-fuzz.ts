import fc from 'fast-check';
import { isValidMyNumber } from '../../../src/common/my-number/my-number.js';
import { validMyNumber } from './my-numbers.js';

/**
 * Request-body fuzzing driven by the app's own OpenAPI document: the operations and
 * their body schemas are read from /docs/openapi.json (keyed on path + method, never
 * operationId), bodies are generated from the schemas (valid ones from examples,
 * enums and formats) and then structurally mutated.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: Json[];
  example?: Json;
  default?: Json;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> }; security?: unknown[] }>>;
  components?: { schemas?: Record<string, Schema> };
}

export interface JsonOperation {
  method: 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI path template, e.g. `/v1/linkages/{id}/revocation`. */
  path: string;
  /** The application/json body schema, $refs resolved lazily. */
  schema: Schema;
}

/** Every operation of the document that takes an application/json body. */
export function jsonOperations(doc: OpenApiDocument): JsonOperation[] {
  const out: JsonOperation[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const content = operation.requestBody?.content ?? {};
      const type = Object.keys(content).find((t) => /^application\/json\b/i.test(t));
      if (type && ['post', 'put', 'patch', 'delete'].includes(method)) {
        out.push({ method: method as JsonOperation['method'], path, schema: content[type].schema ?? {} });
      }
    }
  }
  return out.sort((a, b) => `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`));
}

export function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  let s = schema;
  for (let guard = 0; s.$ref && guard < 32; guard++) {
    const name = s.$ref.replace('#/components/schemas/', '');
    const target = doc.components?.schemas?.[name];
    if (!target) throw new Error(`unresolved $ref ${s.$ref}`);
    s = target;
  }
  // nestjs/swagger writes `allOf: [{$ref}]` next to an example: merge.
  if (s.allOf?.length) {
    const { allOf, ...rest } = s;
    return Object.assign({}, ...allOf.map((part) => resolve(doc, part)), rest);
  }
  return s;
}

const RECENT_PAST = () => new Date(Date.now() - 3_600_000).toISOString();

/** A valid My Number of its own for each draw, so that each sent one is recognisable. */
export const myNumberArb: fc.Arbitrary<string> = fc.integer({ min: 1, max: 99_999_999_999 }).map(validMyNumber);

/**
 * A body that follows the schema: examples, enums and formats (what validation
 * accepts most often); a field whose example is a My Number gets a fresh one.
 */
export function validValue(doc: OpenApiDocument, raw: Schema, depth = 0): fc.Arbitrary<Json> {
  const schema = resolve(doc, raw);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => validValue(doc, s, depth + 1)));
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  if (typeof schema.example === 'string' && isValidMyNumber(schema.example)) return myNumberArb;
  const type = schema.type ?? (schema.properties ? 'object' : undefined);
  if (schema.example !== undefined && type !== 'object' && type !== 'array') return fc.constant(schema.example);
  switch (type) {
    case 'object': {
      const properties = schema.properties ?? {};
      if (Object.keys(properties).length === 0) {
        return schema.example !== undefined ? fc.constant(schema.example) : fc.constant({});
      }
      const model: Record<string, fc.Arbitrary<Json>> = {};
      for (const [name, property] of Object.entries(properties)) model[name] = validValue(doc, property, depth + 1);
      return fc.record(model, { requiredKeys: schema.required ?? [] }) as fc.Arbitrary<Json>;
    }
    case 'array': {
      if (schema.example !== undefined && Array.isArray(schema.example)) return fc.constant(schema.example);
      const min = schema.minItems ?? 0;
      const max = Math.max(min, Math.min(schema.maxItems ?? 3, min + 2, 3));
      return fc.array(schema.items ? validValue(doc, schema.items, depth + 1) : fc.string(), { minLength: min, maxLength: max });
    }
    case 'integer':
      return fc.integer({ min: schema.minimum ?? 0, max: schema.maximum ?? 1000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? 0, max: schema.maximum ?? 1000, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'string':
      if (schema.format === 'date-time') return fc.constant(RECENT_PAST());
      if (schema.format === 'date') return fc.constant('1980-04-01');
      if (schema.format === 'uuid') return fc.uuid();
      if (schema.format === 'uri' || schema.format === 'url') return fc.constant('https://bank.example/hooks');
      if (schema.pattern) {
        try {
          return fc.stringMatching(new RegExp(schema.pattern));
        } catch {
          /* a pattern JavaScript cannot read: fall through */
        }
      }
      return fc.string({ minLength: schema.minLength ?? 1, maxLength: Math.min(schema.maxLength ?? 16, 16) });
    default:
      return fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>;
  }
}

/** Any JSON value, with My Numbers among its strings (in keys too). */
const anyJson: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
  { weight: 2, arbitrary: myNumberArb },
  { weight: 1, arbitrary: myNumberArb.map((n) => ({ [n]: n })) },
  { weight: 1, arbitrary: fc.constantFrom<Json>(null, [], {}, [[]], '', 0, -1, 1e308, true, '0005', 'all') },
);

const STRANGE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', ' ', '0'];

type Step = (string | number)[];

function nodes(value: Json, at: Step = [], out: Step[] = []): Step[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => nodes(v, [...at, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) nodes(v, [...at, k], out);
  return out;
}

function nested(depth: number, leaf: Json, asObject: boolean): Json {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
  return v;
}

/** An own property even for `__proto__` (a literal would set the prototype instead). */
function withKey(object: Record<string, Json>, key: string, value: Json): Record<string, Json> {
  const copy = { ...object };
  Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true });
  return copy;
}

export type Mutation =
  | { kind: 'replace'; value: Json }
  | { kind: 'wrap'; times: number }
  | { kind: 'deep'; depth: number; asObject: boolean }
  | { kind: 'delete' }
  | { kind: 'extra'; key: string; value: Json }
  | { kind: 'unwrap' }
  | { kind: 'toArray' }
  | { kind: 'toObject' }
  | { kind: 'longString'; length: number }
  | { kind: 'longArray'; length: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: anyJson.map((value) => ({ kind: 'replace' as const, value })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((times) => ({ kind: 'wrap' as const, times })) },
  {
    weight: 1,
    arbitrary: fc.record({ depth: fc.integer({ min: 2, max: 200 }), asObject: fc.boolean() }).map((r) => ({ kind: 'deep' as const, ...r })),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'delete' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .record({ key: fc.oneof(fc.constantFrom(...STRANGE_KEYS), myNumberArb, fc.string({ maxLength: 8 })), value: anyJson })
      .map((r) => ({ kind: 'extra' as const, ...r })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'unwrap' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'toArray' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'toObject' as const }) },
  { weight: 1, arbitrary: fc.constantFrom(300, 5000, 70_000).map((length) => ({ kind: 'longString' as const, length })) },
  { weight: 1, arbitrary: fc.constantFrom(101, 2001, 5001).map((length) => ({ kind: 'longArray' as const, length })) },
);

function mutateNode(node: Json, mutation: Mutation): Json | undefined {
  switch (mutation.kind) {
    case 'replace':
      return mutation.value;
    case 'wrap':
      return nested(mutation.times, node, false);
    case 'deep':
      return nested(mutation.depth, node, mutation.asObject);
    case 'delete':
      return undefined;
    case 'extra':
      return node !== null && typeof node === 'object' && !Array.isArray(node) ? withKey(node, mutation.key, mutation.value) : [node, mutation.value];
    case 'unwrap':
      return Array.isArray(node) ? (node[0] ?? null) : node !== null && typeof node === 'object' ? (Object.values(node)[0] ?? null) : node;
    case 'toArray':
      return node !== null && typeof node === 'object' ? Object.values(node) : [node];
    case 'toObject':
      return Array.isArray(node) ? Object.fromEntries(node.map((v, i) => [String(i), v])) : { value: node };
    case 'longString':
      return 'x'.repeat(mutation.length);
    case 'longArray': {
      // Of small items only: copies of a long string or array would outgrow any body limit.
      const item = JSON.stringify(node ?? null).length <= 64 ? node : 0;
      // Copies, not one shared object: a later mutation of one item must not grow all of them
      // (structuredClone keeps shared references shared, and 5,001 long strings outgrow V8's strings).
      return Array.from({ length: mutation.length }, () => structuredClone(item ?? null) as Json);
    }
  }
}

/** Applies `mutation` at the `pick`-th node (depth-first) of `body`. */
export function mutate(body: Json, pick: number, mutation: Mutation): Json | undefined {
  const all = nodes(body);
  const at = all[pick % all.length];
  if (at.length === 0) return mutateNode(body, mutation);
  const copy = structuredClone(body) as Json;
  let parent = copy as Record<string | number, Json>;
  for (const step of at.slice(0, -1)) parent = parent[step] as Record<string | number, Json>;
  const last = at[at.length - 1];
  const replaced = mutateNode(parent[last], mutation);
  if (replaced === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (typeof last === 'string' && !Array.isArray(parent)) {
    Object.defineProperty(parent, last, { value: replaced, enumerable: true, configurable: true, writable: true });
  } else parent[last] = replaced;
  return copy;
}

/** How the text is sent: the content type, and damage done to the JSON text itself. */
export interface Transport {
  contentType: string | null;
  text: 'as-is' | 'empty' | 'truncated' | 'duplicate-key' | 'trailing-garbage';
}

export const transportArb: fc.Arbitrary<Transport> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Transport>({ contentType: 'application/json', text: 'as-is' }) },
  {
    weight: 3,
    arbitrary: fc.record({
      contentType: fc.constantFrom<string | null>(
        'application/json',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/jose',
        'text/csv',
        'multipart/form-data; boundary=x',
        null,
      ),
      text: fc.constantFrom<Transport['text']>('as-is', 'empty', 'truncated', 'duplicate-key', 'trailing-garbage'),
    }),
  },
);

/** Past this, mutations compounded (a long string in a long array): any body limit refuses it anyway. */
const MAX_TEXT = 256 * 1024;

export function bodyText(body: Json | undefined, transport: Transport): string {
  const json = body === undefined ? '' : JSON.stringify(body);
  const text = json.length > MAX_TEXT ? json.slice(0, MAX_TEXT) : json;
  switch (transport.text) {
    case 'as-is':
      return text;
    case 'empty':
      return '';
    case 'truncated':
      return text.slice(0, Math.max(0, Math.floor(text.length / 2)));
    case 'trailing-garbage':
      return `${text} }`;
    case 'duplicate-key': {
      const first = /^\{("(?:[^"\\]|\\.)*"):/.exec(text);
      return first ? `{${first[1]}:null,${text.slice(1)}` : text;
    }
  }
}

/** Every valid My Number in `text` (any 12-digit window of a longer digit run too). */
export function myNumbersIn(text: string): string[] {
  const found = new Set<string>();
  for (const run of text.match(/\d{12,}/g) ?? []) {
    for (let i = 0; i + 12 <= run.length; i++) {
      const candidate = run.slice(i, i + 12);
      if (isValidMyNumber(candidate)) found.add(candidate);
    }
  }
  return [...found];
}
