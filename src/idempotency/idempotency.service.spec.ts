import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DomainError } from '../common/errors/domain-error.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import { canonicalJson, IdempotencyService } from './idempotency.service.js';

/** The same value with every object's keys in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
  }
  return value;
}

describe('canonicalJson', () => {
  it('does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: 2 })).toBe(canonicalJson({ a: 2, b: 1 }));
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
  });

  it('sorts the keys of nested objects, also inside arrays', () => {
    const a = { z: { y: 1, x: [{ q: 1, p: 2 }] }, a: null };
    const b = { a: null, z: { x: [{ p: 2, q: 1 }], y: 1 } };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":null,"z":{"x":[{"p":2,"q":1}],"y":1}}');
  });

  it('drops undefined properties', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
    expect(canonicalJson({ n: { b: undefined } })).toBe('{"n":{}}');
  });

  it('writes undefined array items and Dates as JSON.stringify does', () => {
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
    expect(canonicalJson([undefined])).not.toBe(canonicalJson([]));
    expect(canonicalJson({ at: new Date('2026-01-02T03:04:05Z') })).toBe('{"at":"2026-01-02T03:04:05.000Z"}');
  });

  it('keeps array order', () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
    expect(canonicalJson({ a: [{ k: 1 }, { k: 2 }] })).not.toBe(canonicalJson({ a: [{ k: 2 }, { k: 1 }] }));
  });

  it('tells types apart', () => {
    const values = [{ a: 1 }, { a: '1' }, { a: true }, { a: null }, { a: [1] }, { a: { 0: 1 } }, {}, [], '', null];
    expect(new Set(values.map(canonicalJson)).size).toBe(values.length);
  });

  it('escapes keys and strings, so that no two objects collide', () => {
    expect(canonicalJson({ 'a":1,"b': 2 })).not.toBe(canonicalJson({ a: 1, b: 2 }));
    expect(JSON.parse(canonicalJson({ 'a":1,"b': 'x"y' }))).toEqual({ 'a":1,"b': 'x"y' });
  });

  it('is valid JSON for the same value, whatever the key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(reverseKeys(value))).toBe(text);
      }),
    );
  });
});

describe('IdempotencyService.parseKey', () => {
  const sut = IdempotencyService.parseKey;

  it('returns undefined when the header is absent', () => {
    expect(sut(undefined)).toBeUndefined();
  });

  it.each(['a', 'order-2026-04-01-0001', '7b0c2b1e-0000-4000-8000-000000000001', '!~', 'k'.repeat(255)])(
    'accepts %s',
    (key) => {
      expect(sut(key)).toBe(key);
    },
  );

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['non-ASCII', 'キー'],
    ['a space', 'a b'],
    ['a control character', 'a\tb'],
    ['a newline', 'a\nb'],
    ['Latin-1', 'caf\u00e9'],
  ])('refuses a key that is %s', (_case, key) => {
    expect(() => sut(key)).toThrow(DomainError);
    expect(() => sut(key)).toThrow(expect.objectContaining({ code: 'INVALID_IDEMPOTENCY_KEY', status: 400 }));
  });

  it.each([[['a']], [['a', 'b']], [[]]])('refuses a repeated header %j', (value) => {
    expect(() => sut(value)).toThrow(expect.objectContaining({ code: 'INVALID_IDEMPOTENCY_KEY' }));
  });
});

describe('IdempotencyService.storedKey', () => {
  const material = (versions: number[], active: number) =>
    ({
      blindIndexKeys: new Map(versions.map((v) => [v, Buffer.alloc(32, v)])),
      activeBlindIndexVersion: active,
    }) as unknown as KeyMaterial;
  const sut = new IdempotencyService(material([1], 1));

  it('stores neither the key nor anything of it in clear, and scopes it to the route', () => {
    const key = '123456789018';
    const stored = sut.storedKey('POST /v1/linkages', key);
    expect(stored).toMatch(/^k1\.[A-Za-z0-9_-]{43}$/);
    expect(stored).not.toContain(key);
    expect(sut.storedKey('POST /v1/linkages', key)).toBe(stored);
    expect(sut.storedKey('POST /v1/inquiries', key)).not.toBe(stored);
    expect(sut.storedKey('POST /v1/linkages', `${key}0`)).not.toBe(stored);
  });

  it('is the same across a blind-index rotation (a new active version), and differs under other keys', () => {
    const stored = sut.storedKey('POST /v1/linkages', 'k');
    expect(new IdempotencyService(material([1, 2], 2)).storedKey('POST /v1/linkages', 'k')).toBe(stored);
    expect(new IdempotencyService(material([2], 2)).storedKey('POST /v1/linkages', 'k')).not.toBe(stored);
  });
});
