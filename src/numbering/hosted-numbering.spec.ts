import { describe, expect, it } from '@jest/globals';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { numberingIdempotencyKey } from './hosted-numbering.js';

describe('numberingIdempotencyKey', () => {
  it('is one key per origin node and request', () => {
    const requestId = '8a6e0f2e-2b7a-4c47-9d7e-3f1f1f6f0a01';
    expect(numberingIdempotencyKey({ nodeId: null, requestId })).toBe(`numbering local ${requestId}`);
    expect(numberingIdempotencyKey({ nodeId: 'node-a', requestId })).toBe(`numbering node-a ${requestId}`);
    expect(numberingIdempotencyKey({ nodeId: 'node-a', requestId })).not.toBe(numberingIdempotencyKey({ nodeId: 'node-b', requestId }));
  });

  it("cannot be sent as a teller's Idempotency-Key, so the two never collide", () => {
    const key = numberingIdempotencyKey({ nodeId: null, requestId: '8a6e0f2e-2b7a-4c47-9d7e-3f1f1f6f0a01' });
    expect(() => IdempotencyService.parseKey(key)).toThrow('Idempotency-Key must be 1-255 printable ASCII characters');
  });
});
