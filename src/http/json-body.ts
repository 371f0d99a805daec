import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/errors/domain-error.js';

export interface JsonBodyLimits {
  /** Deepest nesting of objects and arrays (the body itself is level 1). */
  maxDepth: number;
  /** Most items in any one array of the body. */
  maxArrayItems: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

interface Level {
  object: boolean;
  /** Arrays: items so far (0 until the first one starts). */
  items: number;
  /** Objects: the member names so far, and whether the next string is one. */
  keys?: Set<string>;
  expectKey: boolean;
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * One pass over the JSON text, before it is parsed, that refuses what the parser
 * would accept but the rest of the service must never meet:
 * - nesting deeper than `maxDepth` (class-transformer and class-validator recurse on
 *   the body and overflow the stack a few thousand levels down: a 500 before);
 * - an array of more than `maxArrayItems` items (each is validated, and reported);
 * - an object with the same member name twice (JSON.parse keeps the last silently,
 *   so two readers of one body could see different values; RFC 7493 I-JSON forbids it).
 *
 * Hand-written because neither JSON.parse nor secure-json-parse (Fastify's parser,
 * which we still run after this for `__proto__`/`constructor.prototype`) reports
 * depth or duplicate names, and no dependency of ours does. Text that is not JSON is
 * left to the parser: this scan only needs to count brackets outside strings.
 */
export function checkJsonStructure(text: string, limits: JsonBodyLimits): DomainError | undefined {
  const stack: Level[] = [];
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) continue;
    const top = stack[stack.length - 1];
    // The first item of an array starts at its first non-space character that is not `]`.
    if (top && !top.object && top.items === 0 && c !== CLOSE_ARRAY) top.items = 1;
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; i < length; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i++;
        } else if (d === QUOTE) break;
      }
      if (top?.object && top.expectKey) {
        top.expectKey = false;
        const raw = text.slice(start, i + 1);
        let key: string;
        try {
          key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        } catch {
          return undefined; // not JSON: the parser says so
        }
        top.keys ??= new Set();
        if (top.keys.has(key)) {
          return new DomainError('MALFORMED_JSON', 'An object of the body has the same member name twice');
        }
        top.keys.add(key);
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (stack.length >= limits.maxDepth) {
        return new DomainError('JSON_LIMIT_EXCEEDED', `The body is nested deeper than ${limits.maxDepth} levels`);
      }
      stack.push({ object: c === OPEN_OBJECT, items: 0, expectKey: c === OPEN_OBJECT });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
    } else if (c === COMMA && top) {
      if (top.object) top.expectKey = true;
      else if (++top.items > limits.maxArrayItems) {
        return new DomainError('JSON_LIMIT_EXCEEDED', `An array of the body has more than ${limits.maxArrayItems} items`);
      }
    } else if (c === COLON && top?.object) {
      top.expectKey = false;
    }
  }
  return undefined;
}

/**
 * The application/json parser of every route: Fastify's own (prototype poisoning
 * refused) behind checkJsonStructure, so that every JSON route gets the same limits
 * before any hook, guard or pipe sees the body. Registered through Nest's
 * useBodyParser(), which Nest then keeps instead of installing its default one.
 */
export function useBoundedJsonParser(app: NestFastifyApplication, limits: JsonBodyLimits): void {
  const parse = app.getHttpAdapter().getInstance().getDefaultJsonParser('error', 'error');
  app.useBodyParser('application/json', {}, (request, body, done) => {
    const text = body.toString('utf8');
    const refused = checkJsonStructure(text, limits);
    if (refused) {
      done(refused, undefined);
      return;
    }
    parse(request as FastifyRequest, text, done);
  });
}
