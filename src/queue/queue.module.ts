import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { QueueName } from './queues.js';

/**
 * BullMQ on Redis, with the configured key prefix (a hash tag for Redis Cluster).
 * Connection options rather than a shared client: BullMQ opens each queue's and
 * worker's connections and closes them with it, so a process that shuts down leaves
 * nothing reconnecting behind. Workers block on Redis: no per-request retry limit.
 * After an outage, connections come back within two seconds (BullMQ's own schedule
 * backs off to 20 s), so that jobs flow again as soon as Redis does.
 */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        connection: {
          url: config.REDIS_URL,
          maxRetriesPerRequest: null,
          retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
        },
        prefix: config.QUEUE_PREFIX,
      }),
    }),
    BullModule.registerQueue({ name: QueueName.Maintenance }, { name: QueueName.Webhooks }),
  ],
  exports: [BullModule],
})
export class QueueModule {}
