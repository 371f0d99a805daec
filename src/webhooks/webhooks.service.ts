import { randomUUID } from 'node:crypto';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { PinoLogger } from 'nestjs-pino';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import { enqueueWithin } from '../queue/bullmq-connection.js';
import { JobName, QueueName, webhookJobOptions } from '../queue/queues.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';

/** An event announced to an institution. `data` holds ids and statuses only, never personal data. */
export interface WebhookEvent {
  type: 'inquiry.completed' | 'numbering-request.completed';
  institutionId: string;
  data: Record<string, unknown>;
}

/** What a delivery job carries: the id, nothing else. */
export interface DeliverWebhookJob {
  deliveryId: string;
}

/** How long dispatch waits for Redis before leaving the deliveries to the sweeper. */
const DISPATCH_WAIT_MS = 2000;
/** Deliveries the sweeper looks at per run. */
const SWEEP_BATCH = 500;

/**
 * Webhooks through an outbox: the event's caller writes the delivery row in its own
 * transaction (`record`), so that an event is announced if and only if it committed,
 * then enqueues it after the commit (`dispatch`). Postgres is the source of truth:
 * a delivery whose job is lost (Redis flushed, enqueue failed) is enqueued again by
 * the worker's sweeper.
 */
@Injectable()
export class WebhooksService {
  constructor(
    @InjectQueue(QueueName.Webhooks) private readonly queue: Queue,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly db: DataSource,
    private readonly audit: AuditService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(WebhooksService.name);
  }

  /**
   * The receiver at `url` answered 410 Gone: the institution's webhook is disabled
   * (audited, as the system's act) until its URL is set again. Returns the institution's
   * code when this disabled it; nothing when the URL has changed since or it was already.
   */
  disableAfterGone(institutionId: string, url: string): Promise<string | undefined> {
    return this.db.transaction(async (tx) => {
      const code = await this.deliveries.disable(tx, institutionId, url);
      if (code) {
        await this.audit.record(
          tx,
          { actorType: 'system', institutionId },
          { action: 'webhook.disable', resourceType: 'institution', resourceId: institutionId, details: { code, statusCode: 410 } },
        );
      }
      return code;
    });
  }

  /**
   * Inside the caller's transaction (outbox): one delivery row per event whose institution
   * has a webhook URL, all in one statement; returns the ids written.
   */
  record(executor: SqlExecutor, events: WebhookEvent[]): Promise<string[]> {
    const timestamp = new Date().toISOString();
    return this.deliveries.insertIfSubscribed(
      executor,
      events.map((event) => ({
        id: randomUUID(),
        institutionId: event.institutionId,
        eventType: event.type,
        payload: { type: event.type, timestamp, data: event.data },
      })),
    );
  }

  /**
   * After the caller's commit: enqueue delivery jobs (BullMQ jobId = delivery id, so
   * adding twice is harmless). Never fails the caller: while Redis is unreachable the
   * rows wait for the sweeper.
   */
  async dispatch(deliveryIds: string[]): Promise<void> {
    if (deliveryIds.length === 0) return;
    await enqueueWithin(this.queue.addBulk(deliveryIds.map((id) => this.deliveryJob(id))), DISPATCH_WAIT_MS, (error) =>
      this.logger.warn({ err: error, deliveries: deliveryIds.length }, 'webhook jobs not enqueued; the sweeper will'),
    );
  }

  /**
   * The sweeper: enqueues due pending deliveries that have no job that will run. A job
   * that BullMQ already ended while Postgres says pending (its run failed before it
   * could record an outcome) is replaced. Returns how many were enqueued.
   */
  async sweep(): Promise<number> {
    let enqueued = 0;
    for (const id of await this.deliveries.due(SWEEP_BATCH)) {
      const job = await this.queue.getJob(id);
      if (job) {
        const state = await job.getState();
        if (state !== 'completed' && state !== 'failed' && state !== 'unknown') continue;
        await job.remove();
      }
      const { name, data, opts } = this.deliveryJob(id);
      await this.queue.add(name, data, opts);
      enqueued++;
    }
    return enqueued;
  }

  private deliveryJob(deliveryId: string) {
    const data: DeliverWebhookJob = { deliveryId };
    return { name: JobName.DeliverWebhook, data, opts: webhookJobOptions(deliveryId, this.config.WEBHOOK_MAX_ATTEMPTS) };
  }
}
