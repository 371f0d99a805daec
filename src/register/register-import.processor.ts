import { Processor } from '@nestjs/bullmq';
import { LoggedWorkerHost } from '../queue/logged-worker-host.js';
import { Inject } from '@nestjs/common';
import type { Job } from 'bullmq';
import { Readable } from 'node:stream';
import { PinoLogger } from 'nestjs-pino';
import type pg from 'pg';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { QueueName } from '../queue/queues.js';
import { findImportRow, markImportFailed, runImport } from './register-import-runner.js';
import type { ImportRegisterJob } from './register-imports.service.js';

/** The spooled upload, chunk by chunk (one in memory at a time). */
function spoolReader(pool: pg.Pool, importId: string): Readable {
  return Readable.from(
    (async function* () {
      for (let seq = 0; ; seq++) {
        const { rows } = await pool.query<{ data: Buffer }>(
          'SELECT data FROM register_import_chunks WHERE import_id = $1 AND seq = $2',
          [importId, seq],
        );
        if (!rows[0]) return;
        yield rows[0].data;
      }
    })(),
    { objectMode: false },
  );
}

/**
 * Imports uploaded registers, one at a time per worker (an import keeps a core and a
 * connection busy). A job that fails or whose worker died starts again from the spool;
 * the spool is deleted when the import has an outcome.
 */
@Processor(QueueName.Register, { concurrency: 1 })
export class RegisterImportProcessor extends LoggedWorkerHost {
  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(AppConfig) private readonly config: AppConfig,
    protected readonly logger: PinoLogger,
  ) {
    super();
    logger.setContext(RegisterImportProcessor.name);
  }

  async process(job: Job<ImportRegisterJob>): Promise<unknown> {
    const { importId } = job.data;
    const row = await findImportRow(this.pool, importId);
    if (!row || ['completed', 'refused', 'failed'].includes(row.status)) return { skipped: true };
    try {
      const outcome = await runImport(this.pool, importId, row, spoolReader(this.pool, importId), {
        maxErrors: this.config.REGISTER_IMPORT_MAX_ERRORS,
        rebuildPercent: this.config.REGISTER_REBUILD_PERCENT,
      });
      await this.pool.query('DELETE FROM register_import_chunks WHERE import_id = $1', [importId]);
      this.logger.info({ importId, status: outcome.status }, 'register import ended');
      return { status: outcome.status };
    } catch (error) {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.logger.warn({ importId, err: error, last }, 'register import failed; nothing was written');
      if (last) {
        await markImportFailed(this.pool, importId, 'the import failed; nothing was written');
        await this.pool.query('DELETE FROM register_import_chunks WHERE import_id = $1', [importId]);
      }
      throw error;
    }
  }
}
