import { describe, expect, it } from '@jest/globals';
import { parseRetryAfter } from '../common/http/retry-after.js';
import { RETRY_AFTER_CAP_MS, webhookBackoffMs, webhookRetryDelay, webhookRetryInMs } from './webhook.processor.js';

describe('webhook retry schedule', () => {
  it('waits WEBHOOK_BACKOFF_MS after the first failed attempt and doubles after each further one', () => {
    expect([1, 2, 3, 4, 7].map((attempt) => webhookBackoffMs(5000, attempt))).toEqual([5000, 10_000, 20_000, 40_000, 320_000]);
  });

  it("BullMQ's backoff is the delay the processor named, a default for anything else", () => {
    const named = Object.assign(new Error('attempt 2 failed'), { retryInMs: 1234 });
    expect(webhookRetryDelay(1, 'webhook', named)).toBe(1234);
    expect(webhookRetryDelay(3, 'webhook', new Error('database down'))).toBe(5000);
  });

  it("honours a receiver's Retry-After when it asks for longer than the schedule, up to the cap", () => {
    expect(webhookRetryInMs(5000, 1, null)).toBe(5000);
    expect(webhookRetryInMs(5000, 1, 60_000)).toBe(60_000);
    expect(webhookRetryInMs(5000, 2, 1000)).toBe(10_000); // never sooner than the schedule
    expect(webhookRetryInMs(5000, 1, 10 * RETRY_AFTER_CAP_MS)).toBe(RETRY_AFTER_CAP_MS);
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 10, 26, 12, 0, 0);

  it('reads delay-seconds and HTTP-dates; a past date is now; anything else is ignored', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 26 Nov 2026 12:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 11:00:00 GMT', now)).toBe(0);
    for (const bad of [null, '', '-5', '1.5', 'soon', '2026-11-27', 'Thu, 26 Nov 2026 12:01:30']) expect(parseRetryAfter(bad, now)).toBeNull();
  });
});
