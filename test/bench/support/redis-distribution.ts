import { Cluster, type Redis } from 'ioredis';
import type { AppConfig } from '../../../src/config/app-config.js';
import { QueueName, queuePrefix, redisKeyBase } from '../../../src/queue/queues.js';
import { createRedisClient, masters, type RedisClient } from '../../../src/redis/redis-client.js';

/** One master's share: its address, the families whose hash tag it serves, its keys and the commands it ran. */
export interface MasterShare {
  master: string;
  families: string[];
  keys: number;
  keysByFamily: Record<string, number>;
  commands: number;
}

async function connect(config: Pick<AppConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>): Promise<RedisClient> {
  const redis = createRedisClient(config, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

const address = (node: Redis) => `${node.options.host}:${node.options.port}`;

/** Calls of every command this master has run since its start (INFO commandstats), INFO itself aside. */
async function commandCalls(node: Redis): Promise<number> {
  const info = await node.info('commandstats');
  let calls = 0;
  for (const [, name, n] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (name !== 'info') calls += Number(n);
  return calls;
}

/** Commands per master so far: take one before a phase and diff with distribution() after it. */
export async function commandsPerMaster(config: Pick<AppConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>): Promise<Map<string, number>> {
  const redis = await connect(config);
  try {
    const counts = new Map<string, number>();
    for (const node of masters(redis)) counts.set(address(node), await commandCalls(node));
    return counts;
  } finally {
    redis.disconnect();
  }
}

/**
 * How this deployment's queue keys (QUEUE_PREFIX's families) sit on the masters, and the
 * commands each master ran since `before`. A single Redis is one "master".
 */
export async function distribution(
  config: Pick<AppConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'QUEUE_PREFIX'>,
  before: Map<string, number>,
): Promise<MasterShare[]> {
  const redis = await connect(config);
  const base = redisKeyBase(config.QUEUE_PREFIX);
  try {
    const shares: MasterShare[] = [];
    const slotOwners = redis instanceof Cluster ? ((await redis.cluster('SLOTS')) as unknown as [number, number, [string, number]][]) : [];
    for (const node of masters(redis)) {
      const keysByFamily: Record<string, number> = {};
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `{${base}:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          const family = key.slice(base.length + 2, key.indexOf('}'));
          keysByFamily[family] = (keysByFamily[family] ?? 0) + 1;
        }
      } while (cursor !== '0');
      const owned = slotOwners.filter(([, , [, port]]) => port === node.options.port);
      const families = redis instanceof Cluster
        ? await familiesIn(node, base, owned.map(([from, to]) => [from, to]))
        : ['all'];
      shares.push({
        master: address(node),
        families,
        keys: Object.values(keysByFamily).reduce((a, b) => a + b, 0),
        keysByFamily,
        commands: (await commandCalls(node)) - (before.get(address(node)) ?? 0),
      });
    }
    return shares;
  } finally {
    redis.disconnect();
  }
}

async function familiesIn(node: Redis, base: string, ranges: [number, number][]): Promise<string[]> {
  const found: string[] = [];
  const families = new Set(Object.values(QueueName).map((q) => queuePrefix({ QUEUE_PREFIX: base }, q).slice(base.length + 2, -1)));
  for (const family of families) {
    const slot = Number(await node.cluster('KEYSLOT', `{${base}:${family}}`));
    if (ranges.some(([from, to]) => slot >= from && slot <= to)) found.push(family);
  }
  return found;
}

/** Removes every queue key of this QUEUE_PREFIX, on every master. */
export async function dropQueueKeys(config: Pick<AppConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'QUEUE_PREFIX'>): Promise<void> {
  const redis = await connect(config);
  try {
    for (const node of masters(redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `{${redisKeyBase(config.QUEUE_PREFIX)}:*`, 'COUNT', 1000);
        cursor = next;
        // One key per call: on a cluster, the keys of a call must share a slot.
        for (const key of keys) await node.unlink(key);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}
