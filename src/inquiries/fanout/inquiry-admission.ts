import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../../config/app-config.js';
import { JobName, QueueName } from '../../queue/queues.js';

/**
 * Wakes the fan-out when inquiries are queued. Inquiries accepted within one
 * PEER_BATCH_WAIT_MS window share one admission job (its id names the window), so
 * that they are admitted, and travel to each peer node, together.
 *
 * Best effort by design: the inquiry is already a committed row, and the worker's
 * reconciler admits whatever is queued, so a Redis outage delays inquiries but
 * neither loses one nor fails the request.
 */
@Injectable()
export class InquiryAdmission implements OnModuleDestroy {
  private readonly connection: Redis;
  private readonly queue: Queue;

  constructor(
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(InquiryAdmission.name);
    // Fail fast rather than queue commands while Redis is away.
    this.connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
    this.connection.on('error', () => undefined);
    this.queue = new Queue(QueueName.Inquiries, { connection: this.connection, prefix: config.QUEUE_PREFIX });
    this.queue.on('error', () => undefined);
  }

  async request(): Promise<void> {
    const wait = this.config.PEER_BATCH_WAIT_MS;
    const now = Date.now();
    const window = wait > 0 ? Math.floor(now / wait) : now;
    try {
      if (this.connection.status === 'wait') await this.connection.connect();
      await this.queue.add(JobName.AdmitInquiries, {}, {
        jobId: `admit-${window}`,
        delay: wait > 0 ? (window + 1) * wait - now : 0,
        removeOnComplete: { age: 60, count: 1000 },
        removeOnFail: { count: 1000 },
      });
    } catch (error) {
      this.logger.warn({ err: error }, 'could not wake the fan-out; the reconciler will admit the inquiry');
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    this.connection.disconnect();
  }
}
