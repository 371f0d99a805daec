import { describe, expect, it } from '@jest/globals';
import { PeerUnreachableError } from '../../peers/peer-client.js';
import { peerRetryDelay } from './fanout.service.js';

describe('peerRetryDelay (the node jobs\' backoff)', () => {
  const delay = peerRetryDelay({ PEER_RETRY_BACKOFF_MS: 1000, PEER_NODE_DEADLINE_SECONDS: 60 });

  it('doubles from PEER_RETRY_BACKOFF_MS, as BullMQ\'s exponential backoff does', () => {
    expect([1, 2, 3, 4].map((attempts) => delay(attempts, 'peer', new Error('network')))).toEqual([1000, 2000, 4000, 8000]);
  });

  it("waits as long as the peer's Retry-After asked when that is longer", () => {
    expect(delay(1, 'peer', new PeerUnreachableError('quota', 'spent', 30_000))).toBe(30_000);
    // A peer's "retry at once" does not make retries faster than the schedule.
    expect(delay(3, 'peer', new PeerUnreachableError('quota', 'spent', 0))).toBe(4000);
  });

  it("never past the node's deadline", () => {
    expect(delay(1, 'peer', new PeerUnreachableError('quota', 'spent', 3_600_000))).toBe(60_000);
    expect(delay(10, 'peer', new Error('network'))).toBe(60_000);
  });
});
