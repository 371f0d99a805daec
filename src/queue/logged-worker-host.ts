import { OnWorkerEvent, WorkerHost } from '@nestjs/bullmq';
import type { PinoLogger } from 'nestjs-pino';

/**
 * The base of every queue processor: a BullMQ worker without an `error` listener prints
 * what its connection reports (a Redis restart, a cluster redirection) to stderr as a raw
 * stack, outside the structured, redacted log. Here it is logged once, as a warning with
 * the queue's name; BullMQ reconnects by itself.
 */
export abstract class LoggedWorkerHost extends WorkerHost {
  protected abstract readonly logger: PinoLogger;

  @OnWorkerEvent('error')
  onWorkerError(error: Error): void {
    this.logger.warn({ err: error, queue: this.worker?.name }, 'queue worker error');
  }
}
