import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../../config/app-config.js';
import { enqueueWithin } from '../../queue/bullmq-connection.js';
import { JobName, QueueName } from '../../queue/queues.js';

/** How long a request waits for Redis to take the wake-up before answering anyway. */
const ADMISSION_WAIT_MS = 1000;
/** The shortest wait before admission looks again at what it could not admit. */
const RETRY_FLOOR_MS = 20;

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
export class InquiryAdmission {
  constructor(
    @InjectQueue(QueueName.Inquiries) private readonly queue: Queue,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(InquiryAdmission.name);
  }

  /**
   * `again`: admission looks again (it held a batch back, or found another admission
   * running), after PEER_BATCH_WAIT_MS but at least RETRY_FLOOR_MS, so that it never spins.
   */
  async request(again = false): Promise<void> {
    const wait = again ? Math.max(RETRY_FLOOR_MS, this.config.PEER_BATCH_WAIT_MS) : this.config.PEER_BATCH_WAIT_MS;
    const now = Date.now();
    const window = wait > 0 ? Math.floor(now / wait) : now;
    const adding = this.queue.add(
      JobName.AdmitInquiries,
      {},
      {
        jobId: `admit-${window}`,
        delay: wait > 0 ? (window + 1) * wait - now : 0,
        removeOnComplete: { age: 60, count: 1000 },
        removeOnFail: { count: 1000 },
      },
    );
    await enqueueWithin(adding, ADMISSION_WAIT_MS, (error) =>
      this.logger.warn({ err: error }, 'could not wake the fan-out; the reconciler will admit the inquiry'),
    );
  }
}
