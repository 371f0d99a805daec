import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';

/** A single Redis or a Redis Cluster: what REDIS_CLUSTER_NODES chooses. */
export type RedisClient = Redis | Cluster;

type RedisSettings = Pick<AppConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>;

/** The cluster's seed nodes, or undefined for a single Redis. */
export function clusterNodes(config: RedisSettings): { host: string; port: number }[] | undefined {
  if (!config.REDIS_CLUSTER_NODES) return undefined;
  return config.REDIS_CLUSTER_NODES.split(',').map((node) => {
    const colon = node.lastIndexOf(':');
    return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) };
  });
}

/** What REDIS_URL says besides where: user, password, TLS (the nodes of a cluster all share them). */
export function redisUrlCredentials(url: string): RedisOptions {
  const parsed = new URL(url);
  const options: RedisOptions = {};
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = { servername: parsed.hostname };
  return options;
}

/**
 * The cluster options for these per-node options: the node connections get them (with
 * REDIS_URL's credentials); the offline queue and reconnect schedule are the cluster's.
 * A failover (a replica promoted after cluster-node-timeout) is waited out by retrying
 * redirected commands and refreshing the slot map, rather than failing at once.
 */
export function clusterOptions(config: RedisSettings, options: RedisOptions): ClusterOptions {
  const { enableOfflineQueue, retryStrategy, lazyConnect, ...nodeOptions } = options;
  return {
    redisOptions: { ...redisUrlCredentials(config.REDIS_URL), ...nodeOptions },
    enableOfflineQueue: enableOfflineQueue ?? true,
    lazyConnect: lazyConnect ?? false,
    ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
    enableReadyCheck: true,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
    slotsRefreshInterval: 5000,
  };
}

/** The one way this service opens a Redis connection: a Cluster when REDIS_CLUSTER_NODES is set. */
export function createRedisClient(config: RedisSettings, options: RedisOptions): RedisClient {
  const nodes = clusterNodes(config);
  return nodes ? new Cluster(nodes, clusterOptions(config, options)) : new Redis(config.REDIS_URL, options);
}

/** Every master of a cluster (one entry, the client itself, for a single Redis): where a SCAN must run. */
export function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * Whether Redis can serve: PING for a single Redis; for a cluster, a node's CLUSTER INFO
 * must also say `cluster_state:ok` (every slot served), which fails while a master is
 * down and its replica not yet promoted.
 */
export async function checkRedis(client: RedisClient): Promise<void> {
  if (!(client instanceof Cluster)) {
    await client.ping();
    return;
  }
  const info = String(await client.cluster('INFO'));
  if (!/^cluster_state:ok\s*$/m.test(info)) throw new Error('Redis Cluster state is not ok');
}
