import { describe, expect, it } from '@jest/globals';
import { operatorKeyFrom } from './queue-dashboard.js';

describe('queue dashboard access', () => {
  const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

  it('takes the key from Bearer, or from the password of HTTP Basic (any user name)', () => {
    expect(operatorKeyFrom('Bearer abc-key')).toBe('abc-key');
    expect(operatorKeyFrom(basic('operator:abc:key'))).toBe('abc:key');
    expect(operatorKeyFrom(basic(':abc-key'))).toBe('abc-key');
  });

  it('finds no key in anything else', () => {
    expect(operatorKeyFrom(undefined)).toBeUndefined();
    expect(operatorKeyFrom('')).toBeUndefined();
    expect(operatorKeyFrom(basic('no-colon'))).toBeUndefined();
    expect(operatorKeyFrom('Basic !!!')).toBeUndefined();
    expect(operatorKeyFrom('Digest abc')).toBeUndefined();
  });
});
