import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { AuditSealer } from '../audit/audit-sealer.js';
import { AppConfig } from '../config/app-config.js';
import { IdempotencyRepository } from '../idempotency/idempotency.repository.js';
import { MetricsService } from '../metrics/metrics.service.js';

const PURGE_BATCH = 5000;
import { JobName, JOB_SCHEDULERS, MAINTENANCE_JOB_OPTIONS, QueueName } from '../queue/queues.js';

/** Periodic housekeeping; one job at a time per worker. */
@Processor(QueueName.Maintenance, { concurrency: 1 })
export class MaintenanceProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    @InjectQueue(QueueName.Maintenance) private readonly queue: Queue,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly sealer: AuditSealer,
    private readonly metrics: MetricsService,
    private readonly idempotency: IdempotencyRepository,
    private readonly logger: PinoLogger,
  ) {
    super();
    logger.setContext(MaintenanceProcessor.name);
  }

  async onApplicationBootstrap(): Promise<void> {
    // Idempotent: every worker replica upserts the same scheduler.
    await this.queue.upsertJobScheduler(
      JOB_SCHEDULERS.auditSeal.id,
      { every: this.config.AUDIT_SEAL_INTERVAL_MS },
      { name: JOB_SCHEDULERS.auditSeal.name, opts: MAINTENANCE_JOB_OPTIONS },
    );
    await this.queue.upsertJobScheduler(
      JOB_SCHEDULERS.idempotencyPurge.id,
      { every: JOB_SCHEDULERS.idempotencyPurge.everyMs },
      { name: JOB_SCHEDULERS.idempotencyPurge.name, opts: MAINTENANCE_JOB_OPTIONS },
    );
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name) {
      case JobName.SealAudit: {
        const sealed = await this.sealer.sealPending();
        if (sealed > 0) {
          this.metrics.auditRowsSealed.inc(sealed);
          // The chain head in the logs anchors the chain outside the database.
          this.logger.info({ sealed, head: await this.sealer.headSummary() }, 'audit rows sealed');
        }
        return { sealed };
      }
      case JobName.PurgeIdempotencyKeys: {
        let purged = 0;
        let batch: number;
        do {
          batch = await this.idempotency.purgeOlderThan(this.config.IDEMPOTENCY_TTL_HOURS, PURGE_BATCH);
          purged += batch;
        } while (batch === PURGE_BATCH);
        if (purged > 0) this.logger.info({ purged }, 'expired idempotency keys purged');
        return { purged };
      }
      default:
        throw new Error(`unknown maintenance job ${job.name}`);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, error: Error): void {
    this.logger.error({ job: job?.name, err: error }, 'maintenance job failed');
  }
}
