import { BullModule, type RegisterFlowProducerOptions } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { bullmqConnectionOptions } from './bullmq-connection.js';
import { QueueDepthCollector } from './queue-depth.collector.js';
import { FANOUT_FLOW_PRODUCER, QueueName, queuePrefix } from './queues.js';

/**
 * BullMQ on Redis (or Redis Cluster), every queue with its family's prefix (a hash tag
 * per family, see queuePrefix), and the flow producer the fan-out creates its flows
 * with. A processor's worker takes its queue's options, so its prefix too.
 */
const queue = (name: QueueName) => ({
  name,
  inject: [AppConfig],
  useFactory: (config: AppConfig) => ({ prefix: queuePrefix(config, name) }),
});

@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        connection: bullmqConnectionOptions(config),
      }),
    }),
    BullModule.registerQueueAsync(
      queue(QueueName.Maintenance),
      queue(QueueName.Webhooks),
      queue(QueueName.Inquiries),
      queue(QueueName.PeerQueries),
      queue(QueueName.Register),
      queue(QueueName.KeyRotations),
    ),
    BullModule.registerFlowProducerAsync({
      name: FANOUT_FLOW_PRODUCER,
      inject: [AppConfig],
      // The connection comes from forRootAsync (the cast: the options type makes it required).
      useFactory: (config: AppConfig) => ({ prefix: queuePrefix(config, FANOUT_FLOW_PRODUCER) }) as RegisterFlowProducerOptions,
    }),
  ],
  providers: [QueueDepthCollector],
  exports: [BullModule],
})
export class QueueModule {}
