import { InjectQueue, OnWorkerEvent, Processor } from '@nestjs/bullmq';
import { LoggedWorkerHost } from '../queue/logged-worker-host.js';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { AuditCheckpoints } from '../audit/audit-checkpoints.service.js';
import { AuditSealer } from '../audit/audit-sealer.js';
import { AppConfig } from '../config/app-config.js';
import { IdempotencyRepository } from '../idempotency/idempotency.repository.js';
import { FanoutRepository } from '../inquiries/fanout/fanout.repository.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { PeerMessageIdsRepository } from '../peers/peer-message-ids.repository.js';
import { PeersService } from '../peers/peers.service.js';
import { ensureJobSchedulers, JobName, JOB_SCHEDULERS, QueueName } from '../queue/queues.js';
import { RegisterImportSweeper } from '../register/register-import-sweeper.js';

const PURGE_BATCH = 5000;

/** Runs a batched purge until a batch comes back short; the total purged. */
async function drain(purgeBatch: (limit: number) => Promise<number>): Promise<number> {
  let purged = 0;
  let batch: number;
  do {
    batch = await purgeBatch(PURGE_BATCH);
    purged += batch;
  } while (batch === PURGE_BATCH);
  return purged;
}

/** Periodic housekeeping; one job at a time per worker. */
@Processor(QueueName.Maintenance, { concurrency: 1 })
export class MaintenanceProcessor extends LoggedWorkerHost implements OnApplicationBootstrap {
  constructor(
    @InjectQueue(QueueName.Maintenance) private readonly queue: Queue,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly sealer: AuditSealer,
    private readonly checkpoints: AuditCheckpoints,
    private readonly metrics: MetricsService,
    private readonly idempotency: IdempotencyRepository,
    private readonly fanout: FanoutRepository,
    private readonly peerMessageIds: PeerMessageIdsRepository,
    private readonly peers: PeersService,
    private readonly registerImports: RegisterImportSweeper,
    protected readonly logger: PinoLogger,
  ) {
    super();
    logger.setContext(MaintenanceProcessor.name);
  }

  onApplicationBootstrap(): Promise<void> {
    return this.ensureSchedulers(false);
  }

  /** The maintenance schedulers; with `onlyMissing`, only those Redis lost. */
  ensureSchedulers(onlyMissing = true): Promise<void> {
    return ensureJobSchedulers(
      this.queue,
      [
        { ...JOB_SCHEDULERS.auditSeal, everyMs: this.config.AUDIT_SEAL_INTERVAL_MS },
        JOB_SCHEDULERS.idempotencyPurge,
        JOB_SCHEDULERS.inquiryResultsPurge,
        JOB_SCHEDULERS.peerMessageIdsPurge,
        { ...JOB_SCHEDULERS.peerKeysRefresh, everyMs: this.config.PEER_KEY_REFRESH_INTERVAL_MS },
        { ...JOB_SCHEDULERS.registerImportsSweep, everyMs: this.config.REGISTER_IMPORT_SWEEP_INTERVAL_MS },
      ],
      onlyMissing,
    );
  }

  /** Every run is counted by job and outcome; retention jobs count the rows they purged. */
  async process(job: Job): Promise<unknown> {
    try {
      const result = await this.run(job);
      this.metrics.retentionRuns.inc({ job: job.name, outcome: 'ok' });
      if ('purged' in result) this.metrics.retentionRowsPurged.inc({ job: job.name }, result.purged);
      if (job.name === JobName.SealAudit) this.metrics.auditLastSeal.set(Date.now() / 1000);
      return result;
    } catch (error) {
      this.metrics.retentionRuns.inc({ job: job.name, outcome: 'failed' });
      throw error;
    }
  }

  private async run(
    job: Job,
  ): Promise<{ sealed: number } | { purged: number } | { refreshed: number; failed: number } | { enqueued: number; abandoned: number }> {
    switch (job.name) {
      case JobName.SealAudit: {
        const sealed = await this.sealer.sealPending();
        if (sealed > 0) {
          this.metrics.auditRowsSealed.inc(sealed);
          // The chain head in the logs anchors the chain outside the database.
          this.logger.info({ sealed, head: await this.sealer.headSummary() }, 'audit rows sealed');
        }
        // A signed checkpoint of the head, in the checkpoint log and at the witnesses (peers).
        await this.checkpoints.checkpointHead();
        return { sealed };
      }
      case JobName.PurgeIdempotencyKeys: {
        const purged = await drain((limit) => this.idempotency.purgeOlderThan(this.config.IDEMPOTENCY_TTL_HOURS, limit));
        if (purged > 0) this.logger.info({ purged }, 'expired idempotency keys purged');
        return { purged };
      }
      case JobName.PurgeInquiryResults: {
        const purged = await drain((limit) => this.fanout.purgeResults(this.config.INQUIRY_RESULT_RETENTION_DAYS, limit));
        if (purged > 0) this.logger.info({ purged }, 'inquiry results past retention purged');
        return { purged };
      }
      case JobName.PurgePeerMessageIds: {
        const purged = await this.peerMessageIds.purgeExpiredMessageIds();
        return { purged };
      }
      case JobName.RefreshPeerKeys:
        return this.peers.refreshAllKeys();
      case JobName.SweepRegisterImports:
        return this.registerImports.sweep();
      default:
        throw new Error(`unknown maintenance job ${job.name}`);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, error: Error): void {
    this.logger.error({ job: job?.name, err: error }, 'maintenance job failed');
  }
}
