import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { QueueName } from '../../queue/queues.js';
import { WebhookProcessor } from '../../webhooks/webhook.processor.js';
import { MaintenanceProcessor } from '../../worker/maintenance.processor.js';
import { FanoutRepository } from './fanout.repository.js';
import { FanoutService } from './fanout.service.js';
import { InquiryAdmission } from './inquiry-admission.js';

/** One reconciler at a time across workers (pg_try_advisory_xact_lock key). */
const RECONCILER_LOCK = 0x6b6f757a61_02n;
const OVERDUE_BATCH = 500;

export interface ReconcileReport {
  overdue: number;
  requeued: number;
  admitted: boolean;
}

/**
 * Postgres is the truth; Redis only carries work. Every RECONCILE_INTERVAL_MS (and at
 * start-up) a worker makes the two agree: inquiries past their deadline become final
 * (`partial` if a node never answered), fan-outs whose flow Redis no longer has (a
 * flushed Redis, a job that failed for good) are re-queued, and queued inquiries
 * nobody woke up for are admitted. It runs on a timer, not a queue, so that losing
 * Redis cannot stop it.
 */
@Injectable()
export class InquiryReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly db: DataSource,
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectQueue(QueueName.Inquiries) private readonly queue: Queue,
    private readonly repository: FanoutRepository,
    private readonly fanout: FanoutService,
    private readonly admission: InquiryAdmission,
    private readonly maintenance: MaintenanceProcessor,
    private readonly webhookProcessor: WebhookProcessor,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(InquiryReconciler.name);
  }

  onApplicationBootstrap(): void {
    const tick = () => {
      this.running = this.reconcile()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'reconciliation failed; retrying next interval'))
        .finally(() => {
          this.running = undefined;
          if (this.timer) this.timer = setTimeout(tick, this.config.RECONCILE_INTERVAL_MS);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** A fan-out younger than this may still be creating its flow: left alone. */
  private get graceSeconds(): number {
    return Math.max(10, (3 * this.config.RECONCILE_INTERVAL_MS) / 1000);
  }

  async reconcile(): Promise<ReconcileReport | undefined> {
    return this.db.transaction(async (tx) => {
      const [{ locked }] = await tx.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, [RECONCILER_LOCK.toString()]);
      if (!locked) return undefined;
      const report: ReconcileReport = { overdue: 0, requeued: 0, admitted: false };

      for (let ids = await this.repository.overdue(OVERDUE_BATCH); ids.length > 0; ids = await this.repository.overdue(OVERDUE_BATCH)) {
        report.overdue += (await this.fanout.complete({ inquiryIds: ids }, 'inquiry deadline passed')).length;
        if (ids.length < OVERDUE_BATCH) break;
      }

      const lost: string[] = [];
      for (const fanoutId of await this.repository.runningFanouts(this.graceSeconds)) {
        const state = await this.queue.getJobState(`fanout-${fanoutId}`);
        if (state === 'unknown' || state === 'failed' || state === 'completed') lost.push(fanoutId);
      }
      if (lost.length > 0) report.requeued = await this.repository.requeue(lost);

      if (report.requeued > 0 || (await this.repository.queuedSince(this.graceSeconds)) > 0) {
        await this.admission.request();
        report.admitted = true;
      }
      // Job schedulers live in Redis too: put them back if Redis lost them.
      await this.maintenance.ensureSchedulers();
      await this.webhookProcessor.ensureScheduler();

      if (report.overdue || report.requeued) {
        this.logger.info(report, 'reconciled inquiries with the queue');
        this.metrics.reconcilerActions.inc({ action: 'overdue' }, report.overdue);
        this.metrics.reconcilerActions.inc({ action: 'requeued' }, report.requeued);
      }
      return report;
    });
  }
}
