import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { createRedisClient, type RedisClient } from './redis-client.js';

export const REDIS = Symbol('REDIS');

/**
 * A Redis (or Redis Cluster) connection for checks and small commands. It fails fast while Redis is down
 * (no offline queue) so that nothing waits on it; nothing on the attachment path uses it.
 */
@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [AppConfig],
      useFactory: (config: AppConfig) =>
        createRedisClient(config, {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
          retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
          lazyConnect: false,
        }).on('error', () => {
          // Reported by /health; reconnection is automatic.
        }),
    },
  ],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  async onApplicationShutdown(): Promise<void> {
    this.redis.disconnect();
  }
}
