import { describe, expect, it } from '@jest/globals';
import { toDecision } from './token-bucket.js';

describe('toDecision', () => {
  const limit = { perMinute: 60, burst: 10 };

  it('an accepted request: no Retry-After, the reset in whole seconds rounded up', () => {
    expect(toDecision(limit, [1, 7, 0, 2500])).toEqual({ allowed: true, limit: 10, remaining: 7, retryAfterSeconds: 0, resetSeconds: 3 });
  });

  it('a refused request waits at least one second', () => {
    expect(toDecision(limit, [0, 0, 200, 9800])).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1, resetSeconds: 10 });
    expect(toDecision(limit, [0, 0, 1001, 9800]).retryAfterSeconds).toBe(2);
  });
});
