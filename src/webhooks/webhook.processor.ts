import { InjectQueue, OnWorkerEvent, Processor } from '@nestjs/bullmq';
import { LoggedWorkerHost } from '../queue/logged-worker-host.js';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { ensureJobSchedulers, JobName, JOB_SCHEDULERS, QueueName } from '../queue/queues.js';
import { type AttemptOutcome, type ClaimedDelivery, WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { postWebhook, type SendResult } from './webhook-sender.js';
import { webhookHeaders } from './webhook-signature.js';
import type { DeliverWebhookJob } from './webhooks.service.js';
import { WebhooksService } from './webhooks.service.js';

/** Requests to receivers in flight per worker: the work is waiting on them, not CPU. */
const CONCURRENCY = 10;
/** When something other than the receiver failed (the database, say), BullMQ retries after this. */
const INTERNAL_RETRY_MS = 5000;
/** The longest `Retry-After` honoured: a receiver cannot park a delivery for longer. */
export const RETRY_AFTER_CAP_MS = 3_600_000;

/** Thrown to have BullMQ try again after the delay the schedule gives. */
class RetryLater extends Error {
  override name = 'RetryLater';

  constructor(
    readonly retryInMs: number,
    message: string,
  ) {
    super(message);
  }
}

/** BullMQ's custom backoff for delivery jobs: the delay the processor named. */
export function webhookRetryDelay(_attemptsMade: number, _type: string | undefined, error?: Error): number {
  const delay = (error as Partial<RetryLater> | undefined)?.retryInMs;
  return typeof delay === 'number' ? delay : INTERNAL_RETRY_MS;
}

/** The wait after the `attempt`-th failed attempt: WEBHOOK_BACKOFF_MS, doubling each time. */
export function webhookBackoffMs(backoffMs: number, attempt: number): number {
  return backoffMs * 2 ** (attempt - 1);
}

/**
 * The wait before the next attempt: the schedule's, or longer when the receiver asked
 * for longer with `Retry-After` (a 429 or 503, say), up to RETRY_AFTER_CAP_MS. Never
 * shorter than the schedule: a receiver's "retry at once" does not speed up retries.
 */
export function webhookRetryInMs(backoffMs: number, attempt: number, retryAfterMs: number | null): number {
  return Math.max(webhookBackoffMs(backoffMs, attempt), Math.min(retryAfterMs ?? 0, RETRY_AFTER_CAP_MS));
}

/**
 * Sends webhook deliveries and runs the sweeper. Postgres decides: a job looks up its
 * delivery, does nothing unless it is pending, and counts attempts in the row, so a
 * job that runs twice, or one re-enqueued after Redis lost it, neither sends a
 * delivered event again nor restarts the schedule.
 */
@Processor(QueueName.Webhooks, { concurrency: CONCURRENCY, settings: { backoffStrategy: webhookRetryDelay } })
export class WebhookProcessor extends LoggedWorkerHost implements OnApplicationBootstrap {
  constructor(
    @InjectQueue(QueueName.Webhooks) private readonly queue: Queue,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly webhooks: WebhooksService,
    private readonly secrets: WebhookSecrets,
    private readonly metrics: MetricsService,
    protected readonly logger: PinoLogger,
  ) {
    super();
    logger.setContext(WebhookProcessor.name);
  }

  onApplicationBootstrap(): Promise<void> {
    return this.ensureScheduler(false);
  }

  /** The sweeper's scheduler; with `onlyMissing`, only if Redis lost it. */
  ensureScheduler(onlyMissing = true): Promise<void> {
    const sweep = { ...JOB_SCHEDULERS.webhookSweep, everyMs: this.config.WEBHOOK_SWEEP_INTERVAL_MS };
    return ensureJobSchedulers(this.queue, [sweep], onlyMissing);
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name) {
      case JobName.DeliverWebhook:
        return this.deliver((job.data as DeliverWebhookJob).deliveryId);
      case JobName.SweepWebhooks: {
        const enqueued = await this.webhooks.sweep();
        if (enqueued > 0) this.logger.info({ enqueued }, 'due webhook deliveries enqueued again');
        return { enqueued };
      }
      default:
        throw new Error(`unknown webhooks job ${job.name}`);
    }
  }

  private async deliver(deliveryId: string): Promise<{ outcome: string }> {
    const maxAttempts = this.config.WEBHOOK_MAX_ATTEMPTS;
    const delivery = await this.deliveries.claim(deliveryId, maxAttempts);
    if (!delivery) {
      // Delivered or failed already (the job ran twice), or nothing more to try: the
      // institution has removed its webhook, or runs that died used the attempts up.
      const reason = await this.deliveries.failUnattemptable(deliveryId, maxAttempts);
      if (!reason) return { outcome: 'skipped' };
      this.metrics.webhookDeliveries.inc({ outcome: 'failed' });
      this.logger.warn({ delivery: deliveryId, reason }, 'webhook delivery failed for good');
      return { outcome: 'failed' };
    }

    const result = await this.send(delivery);
    const outcome = this.outcomeOf(result, delivery.attempt);
    if (result.statusCode === 410) {
      // Disabled before the delivery shows failed: whoever sees that sees the webhook off.
      const code = await this.webhooks.disableAfterGone(delivery.institutionId, delivery.url);
      if (code) this.logger.warn({ institution: code, delivery: delivery.id }, 'the receiver answered 410 Gone: webhook disabled until its URL is set again');
    }
    await this.deliveries.finishAttempt(delivery.id, delivery.attempt, result, outcome);

    const attempt = { delivery: delivery.id, attempt: delivery.attempt, statusCode: result.statusCode, error: result.error };
    switch (outcome.status) {
      case 'delivered':
        this.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
        return { outcome: 'delivered' };
      case 'failed':
        this.metrics.webhookDeliveries.inc({ outcome: 'failed' });
        this.logger.warn(attempt, 'webhook delivery failed for good');
        throw new UnrecoverableError(`attempt ${delivery.attempt} failed (${result.error}); no more attempts`);
      case 'pending':
        this.metrics.webhookDeliveries.inc({ outcome: 'retried' });
        this.logger.info({ ...attempt, retryInMs: outcome.retryInMs }, 'webhook attempt failed; will retry');
        throw new RetryLater(outcome.retryInMs, `attempt ${delivery.attempt} failed (${result.error})`);
    }
  }

  /** Signs and POSTs the stored payload; never throws, so that every attempt gets an outcome. */
  private async send(delivery: ClaimedDelivery): Promise<SendResult> {
    let secrets: Buffer[];
    try {
      secrets = [delivery.secret, ...(delivery.previousSecret ? [delivery.previousSecret] : [])].map((sealed) =>
        this.secrets.open(sealed, delivery.institutionId),
      );
    } catch (error) {
      this.logger.error({ delivery: delivery.id, err: error }, 'the webhook signing secret does not open');
      return { ok: false, statusCode: null, error: 'signing secret unavailable', durationMs: 0, retryAfterMs: null };
    }
    // The body is the stored payload, serialised once per attempt and signed as sent.
    const body = JSON.stringify(delivery.payload);
    return postWebhook(delivery.url, webhookHeaders(secrets, delivery.id, body), body, this.config.WEBHOOK_TIMEOUT_MS);
  }

  /**
   * 2xx delivers; 410 Gone means the receiver wants no more (of this delivery, and of
   * any: the webhook is disabled above); otherwise retry until the
   * attempts run out, after the schedule's wait or the receiver's `Retry-After`.
   */
  private outcomeOf(result: SendResult, attempt: number): AttemptOutcome {
    if (result.ok) return { status: 'delivered' };
    if (result.statusCode === 410 || attempt >= this.config.WEBHOOK_MAX_ATTEMPTS) return { status: 'failed' };
    return { status: 'pending', retryInMs: webhookRetryInMs(this.config.WEBHOOK_BACKOFF_MS, attempt, result.retryAfterMs) };
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, error: Error): void {
    // Receivers' failures are logged above; this is for everything else.
    if (error instanceof RetryLater || error instanceof UnrecoverableError) return;
    this.logger.error({ job: job?.name, err: error }, 'webhooks job failed');
  }
}
