import type { ConnectionOptions } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';

/**
 * How every BullMQ queue, worker and flow producer connects. Options rather than a
 * shared client: BullMQ opens each one's connections and closes them with it, so a
 * process that shuts down leaves nothing reconnecting behind. Workers block on Redis:
 * no per-request retry limit. After an outage, connections come back within two
 * seconds (BullMQ's own schedule backs off to 20 s), so that jobs flow again as soon
 * as Redis does.
 */
export function bullmqConnectionOptions(config: AppConfig): ConnectionOptions {
  return {
    url: config.REDIS_URL,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
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
