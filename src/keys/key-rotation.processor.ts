import { InjectQueue, Processor } from '@nestjs/bullmq';
import { LoggedWorkerHost } from '../queue/logged-worker-host.js';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import type pg from 'pg';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { MasterKeySealer } from '../crypto/master-key-sealer.js';
import { MyNumberCipher } from '../crypto/my-number-cipher.js';
import { PG_POOL } from '../database/database.module.js';
import { ensureJobSchedulers, JobName, JOB_SCHEDULERS, keyRotationJobOptions, QueueName } from '../queue/queues.js';
import { idleUnfinishedRotations } from './key-rotations.repository.js';
import type { RotateKeysJob } from './key-rotations.service.js';
import { KeyRotationRunner, RotationNotRunnableError } from './key-rotation-runner.js';

/**
 * Runs key rotations, one at a time per worker. A worker that dies mid-rotation
 * leaves the rotation at its last committed batch: when a worker starts, and every
 * KEY_ROTATION_RESUME_INTERVAL_MS, unfinished rotations that nothing advances are
 * enqueued again and resume from their cursor.
 */
@Processor(QueueName.KeyRotations, { concurrency: 1 })
export class KeyRotationProcessor extends LoggedWorkerHost implements OnApplicationBootstrap {
  private readonly runner: KeyRotationRunner;

  constructor(
    @InjectQueue(QueueName.KeyRotations) private readonly queue: Queue,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(AppConfig) private readonly config: AppConfig,
    blindIndex: BlindIndex,
    cipher: MyNumberCipher,
    sealer: MasterKeySealer,
    audit: AuditService,
    protected readonly logger: PinoLogger,
  ) {
    super();
    logger.setContext(KeyRotationProcessor.name);
    this.runner = new KeyRotationRunner({
      pool,
      blindIndex,
      cipher,
      sealer,
      batchSize: config.KEY_ROTATION_BATCH_SIZE,
      pauseMs: config.KEY_ROTATION_BATCH_PAUSE_MS,
      audit: (executor, actor, ...events) => audit.record(executor, actor, ...events),
      log: (fields, message) => logger.info(fields, message),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await ensureJobSchedulers(
      this.queue,
      [{ ...JOB_SCHEDULERS.keyRotationsResume, everyMs: this.config.KEY_ROTATION_RESUME_INTERVAL_MS }],
      false,
    );
    // A worker starting after a crash takes up at once what the crash interrupted.
    await this.resume(0);
  }

  /** Enqueues unfinished rotations idle for `idleMs`; a runner already at work keeps them (lock). */
  async resume(idleMs: number): Promise<number> {
    const ids = await idleUnfinishedRotations(this.pool, idleMs);
    for (const id of ids) {
      await this.queue.add(JobName.RotateKeys, { rotationId: id } satisfies RotateKeysJob, keyRotationJobOptions(`${id}-resume-${Date.now()}`));
    }
    return ids.length;
  }

  async process(job: Job<RotateKeysJob>): Promise<unknown> {
    if (job.name === JobName.ResumeKeyRotations) {
      return { enqueued: await this.resume(this.config.KEY_ROTATION_RESUME_INTERVAL_MS) };
    }
    const { rotationId } = job.data;
    try {
      return { outcome: await this.runner.run(rotationId) };
    } catch (error) {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.logger.warn({ rotationId, err: error, last }, 'key rotation stopped; it resumes from its last batch');
      // A worker without the target key leaves it for one that has it (resume re-enqueues it).
      if (last && !(error instanceof RotationNotRunnableError)) {
        await KeyRotationRunner.markFailed(this.pool, rotationId, (error as Error).message ?? String(error));
      }
      throw error;
    }
  }
}
