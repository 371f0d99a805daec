import { createIORedisClient, RedisConnection, type ConnectionOptions, type RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { createRedisClient } from '../redis/redis-client.js';

/** Marks connection options that BullMQ must open as a Redis Cluster (see installClusterClientFactory). */
const CLUSTER_SETTINGS = 'kouzaRedisCluster';

type ClusterMarked = RedisOptions & { [CLUSTER_SETTINGS]?: Pick<AppConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'> };

/**
 * How every BullMQ queue, worker and flow producer connects. Options rather than a
 * shared client: BullMQ opens each one's connections and closes them with it, so a
 * process that shuts down leaves nothing reconnecting behind. Workers block on Redis:
 * no per-request retry limit. After an outage, connections come back within two
 * seconds (BullMQ's own schedule backs off to 20 s), so that jobs flow again as soon
 * as Redis does.
 *
 * On Redis Cluster (REDIS_CLUSTER_NODES), the same: options that BullMQ opens as an
 * ioredis Cluster (through createRedisClient), so each queue and worker still owns
 * and closes its connections. Keys stay in their family's slot: see queuePrefix.
 */
export function bullmqConnectionOptions(config: AppConfig): ConnectionOptions {
  const options: ClusterMarked = {
    maxRetriesPerRequest: null,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
  if (!config.REDIS_CLUSTER_NODES) return { url: config.REDIS_URL, ...options };
  installClusterClientFactory();
  return { ...options, [CLUSTER_SETTINGS]: { REDIS_URL: config.REDIS_URL, REDIS_CLUSTER_NODES: config.REDIS_CLUSTER_NODES } };
}

let installed = false;

/**
 * BullMQ opens a connection from options with new Redis(url, options) unless a client
 * factory is set; it can take a Cluster instance, but then leaves it open (the caller's).
 * This factory opens marked options as a Cluster and the others as BullMQ would.
 */
function installClusterClientFactory(): void {
  if (installed) return;
  installed = true;
  const previous = RedisConnection.clientFactory;
  RedisConnection.clientFactory = (opts: RedisOptions) => {
    // BullMQ adds a default host and port: a cluster's nodes come from its own settings.
    const { [CLUSTER_SETTINGS]: cluster, host: _host, port: _port, ...options } = opts as ClusterMarked;
    if (cluster) return createIORedisClient(createRedisClient(cluster, options));
    if (previous) return previous(opts);
    const { url, ...rest } = opts as RedisOptions & { url?: string };
    return createIORedisClient(url ? new Redis(url, rest) : new Redis(rest));
  };
}

/**
 * Waits for an enqueue at most `waitMs`: while Redis is down the connection holds
 * commands, and a request must not hang on it. What is not enqueued by then still
 * goes when Redis returns; `onError` hears of a failure. Callers rely on Postgres
 * (a sweeper, the reconciler) for anything Redis loses.
 */
export async function enqueueWithin(adding: Promise<unknown>, waitMs: number, onError: (error: unknown) => void): Promise<void> {
  adding.catch(onError);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMs);
  });
  await Promise.race([adding.then(() => undefined, () => undefined), waited]);
  clearTimeout(timer);
}
