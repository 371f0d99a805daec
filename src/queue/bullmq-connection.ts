import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';

/**
 * A connection for BullMQ workers and flow producers: they block on Redis, so no
 * per-request retry limit; they reconnect by themselves when Redis comes back.
 */
export function bullmqConnection(config: AppConfig): Redis {
  const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
  connection.on('error', () => undefined);
  return connection;
}
