import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { bullmqConnectionOptions } from './bullmq-connection.js';
import { QueueDepthCollector } from './queue-depth.collector.js';
import { FANOUT_FLOW_PRODUCER, QueueName } from './queues.js';

/**
 * BullMQ on Redis, with the configured key prefix (a hash tag for Redis Cluster),
 * every queue, and the flow producer the fan-out creates its flows with.
 */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        connection: bullmqConnectionOptions(config),
        prefix: config.QUEUE_PREFIX,
      }),
    }),
    BullModule.registerQueue(
      { name: QueueName.Maintenance },
      { name: QueueName.Webhooks },
      { name: QueueName.Inquiries },
      { name: QueueName.PeerQueries },
      { name: QueueName.Register },
      { name: QueueName.KeyRotations },
    ),
    BullModule.registerFlowProducer({ name: FANOUT_FLOW_PRODUCER }),
  ],
  providers: [QueueDepthCollector],
  exports: [BullModule],
})
export class QueueModule {}
