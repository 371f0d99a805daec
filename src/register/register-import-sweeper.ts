import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import type pg from 'pg';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { JobName, QueueName, registerImportJobOptions } from '../queue/queues.js';
import { markImportFailed } from './register-import-runner.js';
import type { ImportRegisterJob } from './register-imports.service.js';

/** Job states in which the job will still run (or is running): the import is in hand. */
const IN_HAND = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Finds the unfinished register uploads that nothing will finish, every
 * REGISTER_IMPORT_SWEEP_INTERVAL_MS (a maintenance job). Postgres says what is
 * unfinished; Redis says whether a job still holds it.
 * - Spooled whole but without a job that will run (Redis lost it; the API died between
 *   the spool and the enqueue; a last attempt failed without recording it): enqueued
 *   again. The import starts from the spool, which stays until the import has an outcome.
 * - Not spooled whole, without a job, untouched for REGISTER_UPLOAD_IDLE_TIMEOUT_MS (the
 *   API died mid-upload): failed, its partial spool deleted, so that it no longer refuses
 *   the institution's next upload (one active upload per institution).
 * A job enqueued twice is harmless: jobId is the import id, and a job for an import that
 * has ended does nothing.
 */
@Injectable()
export class RegisterImportSweeper {
  constructor(
    @InjectQueue(QueueName.Register) private readonly queue: Queue,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(RegisterImportSweeper.name);
  }

  async sweep(): Promise<{ enqueued: number; abandoned: number }> {
    const { rows } = await this.pool.query<{ id: string; spooled: boolean; idle: boolean }>(
      `SELECT id, spooled_at IS NOT NULL AS spooled, touched_at < now() - make_interval(secs => $1) AS idle
         FROM register_imports
        WHERE source = 'upload' AND status IN ('queued', 'running')`,
      [this.config.REGISTER_UPLOAD_IDLE_TIMEOUT_MS / 1000],
    );
    let enqueued = 0;
    let abandoned = 0;
    for (const { id, spooled, idle } of rows) {
      const job = await this.queue.getJob(id);
      const state = job ? await job.getState() : 'missing';
      if (IN_HAND.has(state)) continue;
      if (spooled) {
        // A finished job of an unfinished import holds its id: it goes, so that the add counts.
        if (job) await job.remove();
        await this.queue.add(JobName.ImportRegister, { importId: id } satisfies ImportRegisterJob, registerImportJobOptions(id));
        enqueued++;
        this.logger.warn({ importId: id, jobState: state }, 'register upload without a job: enqueued again from its spool');
      } else if (idle) {
        await markImportFailed(this.pool, id, 'the upload broke off before the whole file was received; nothing was written');
        await this.pool.query('DELETE FROM register_import_chunks WHERE import_id = $1', [id]);
        abandoned++;
        this.logger.warn({ importId: id }, 'register upload broke off: marked failed');
      }
    }
    return { enqueued, abandoned };
  }
}
