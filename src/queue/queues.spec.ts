import { describe, expect, it } from '@jest/globals';
import { FANOUT_FLOW_PRODUCER, QueueName, queuePrefix, redisKeyBase } from './queues.js';

/** The part of a key Redis Cluster hashes: what is between the first `{` and the next `}`. */
const hashTag = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];

describe('queue prefixes', () => {
  const config = { QUEUE_PREFIX: '{kouza-hub}' };

  it('a fan-out flow (the flow producer, inquiries, peer queries) shares one hash tag', () => {
    const tags = [FANOUT_FLOW_PRODUCER, QueueName.Inquiries, QueueName.PeerQueries].map((q) => hashTag(queuePrefix(config, q as QueueName)));
    expect(new Set(tags)).toEqual(new Set(['kouza-hub:inquiries']));
  });

  it('every other family has a tag of its own', () => {
    const tags = Object.values(QueueName).map((q) => hashTag(queuePrefix(config, q)));
    expect(new Set(tags).size).toBe(5);
    expect(queuePrefix(config, QueueName.Webhooks)).toBe('{kouza-hub:webhooks}');
    expect(queuePrefix(config, QueueName.Register)).toBe('{kouza-hub:register}');
    expect(queuePrefix(config, QueueName.Maintenance)).toBe('{kouza-hub:maintenance}');
    expect(queuePrefix(config, QueueName.KeyRotations)).toBe('{kouza-hub:key-rotations}');
  });

  it('takes QUEUE_PREFIX with or without braces', () => {
    expect(queuePrefix({ QUEUE_PREFIX: 'acme' }, QueueName.Webhooks)).toBe('{acme:webhooks}');
    expect(redisKeyBase('{acme}')).toBe('acme');
  });
});
