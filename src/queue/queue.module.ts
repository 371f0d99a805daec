import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config.js';
import { QueueName } from './queues.js';

/** BullMQ on Redis, with the configured key prefix (a hash tag for Redis Cluster). */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        // BullMQ's workers block on Redis: no per-request retry limit on their connection.
        connection: new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true }),
        prefix: config.QUEUE_PREFIX,
      }),
    }),
    BullModule.registerQueue({ name: QueueName.Maintenance }, { name: QueueName.Webhooks }),
  ],
  exports: [BullModule],
})
export class QueueModule {}
