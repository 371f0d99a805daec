import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkJsonStructure } from './json-body.js';

const limits = { maxDepth: 4, maxArrayItems: 3 };
const codeOf = (text: string) => checkJsonStructure(text, limits)?.code;

describe('checkJsonStructure', () => {
  it('accepts JSON within the limits', () => {
    expect(codeOf('{"a":[1,2,3],"b":{"c":{"d":[]}}}')).toBeUndefined();
    expect(codeOf('[]')).toBeUndefined();
    expect(codeOf('[ ]')).toBeUndefined();
    expect(codeOf('"[[[[[[[["')).toBeUndefined();
    expect(codeOf('{"a\\"[[[[[":"}}}}]]]]","b":"\\\\"}')).toBeUndefined();
  });

  it('refuses nesting deeper than maxDepth, counting objects and arrays alike', () => {
    expect(codeOf('[[[[]]]]')).toBeUndefined();
    expect(codeOf('[[[[[]]]]]')).toBe('JSON_LIMIT_EXCEEDED');
    expect(codeOf('{"a":{"b":[{"c":[]}]}}')).toBe('JSON_LIMIT_EXCEEDED');
    expect(checkJsonStructure('['.repeat(100_000), limits)?.detail).toBe('The body is nested deeper than 4 levels');
  });

  it('refuses an array of more than maxArrayItems items, at any depth', () => {
    expect(codeOf('[1,2,3]')).toBeUndefined();
    expect(codeOf('[1,2,3,4]')).toBe('JSON_LIMIT_EXCEEDED');
    expect(codeOf('{"a":[[],[],[],[]]}')).toBe('JSON_LIMIT_EXCEEDED');
    expect(codeOf('[",,,,,,"]')).toBeUndefined();
    expect(codeOf('{"a":1,"b":2,"c":3,"d":4}')).toBeUndefined();
  });

  it('refuses an object with the same member name twice, however it is escaped', () => {
    expect(codeOf('{"a":1,"a":2}')).toBe('MALFORMED_JSON');
    expect(codeOf('{"a":1,"\\u0061":2}')).toBe('MALFORMED_JSON');
    expect(codeOf('{"a":{"a":1},"b":{"a":1}}')).toBeUndefined();
    expect(codeOf('[{"a":1},{"a":1}]')).toBeUndefined();
    expect(codeOf('{"a":"a","b":"a"}')).toBeUndefined();
  });

  it('agrees with the depth and array lengths of any JSON value, and never throws on any text', () => {
    const measure = (v: unknown): { depth: number; items: number } => {
      if (v === null || typeof v !== 'object') return { depth: 0, items: 0 };
      const children = (Array.isArray(v) ? v : Object.values(v)).map(measure);
      return {
        depth: 1 + Math.max(0, ...children.map((c) => c.depth)),
        items: Math.max(Array.isArray(v) ? v.length : 0, ...children.map((c) => c.items)),
      };
    };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const { depth, items } = measure(value);
        const expected = depth > limits.maxDepth || items > limits.maxArrayItems ? 'JSON_LIMIT_EXCEEDED' : undefined;
        expect(codeOf(JSON.stringify(value))).toBe(expected);
      }),
    );
    fc.assert(fc.property(fc.string(), (text) => void checkJsonStructure(text, limits)));
  });
});
