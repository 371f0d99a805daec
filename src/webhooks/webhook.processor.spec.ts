import { describe, expect, it } from '@jest/globals';
import { webhookBackoffMs, webhookRetryDelay } from './webhook.processor.js';

describe('webhook retry schedule', () => {
  it('waits WEBHOOK_BACKOFF_MS after the first failed attempt and doubles after each further one', () => {
    expect([1, 2, 3, 4, 7].map((attempt) => webhookBackoffMs(5000, attempt))).toEqual([5000, 10_000, 20_000, 40_000, 320_000]);
  });

  it("BullMQ's backoff is the delay the processor named, a default for anything else", () => {
    const named = Object.assign(new Error('attempt 2 failed'), { retryInMs: 1234 });
    expect(webhookRetryDelay(1, 'webhook', named)).toBe(1234);
    expect(webhookRetryDelay(3, 'webhook', new Error('database down'))).toBe(5000);
  });
});
