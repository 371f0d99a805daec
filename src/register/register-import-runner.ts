import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import {
  importRegister,
  type ImportMode,
  type ImportOutcome,
  type ImportProgress,
} from './register-importer.js';
import type { RegisterEncoding, RegisterFormat } from './register-parser.js';

/**
 * The job row of an import (register_imports) around the importer: `running` with
 * progress every second from a connection of the pool (the import's own transaction
 * is invisible until it commits), and the final row written inside that transaction,
 * so that `completed` and the merged register become visible together.
 */

export interface NewImport {
  institutionId: string;
  source: 'cli' | 'upload';
  mode: ImportMode;
  format: RegisterFormat;
  encoding: RegisterEncoding;
  bytesTotal: number | null;
}

export async function createImportRow(db: pg.Pool | pg.ClientBase, job: NewImport, status: 'queued' | 'running'): Promise<string> {
  const id = randomUUID();
  await db.query(
    `INSERT INTO register_imports (id, institution_id, source, mode, format, encoding, status, bytes_total)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [id, job.institutionId, job.source, job.mode, job.format, job.encoding, status, job.bytesTotal],
  );
  return id;
}

export interface ImportRow {
  id: string;
  institutionId: string;
  mode: ImportMode;
  format: RegisterFormat;
  encoding: RegisterEncoding;
  status: string;
  bytesTotal: number | null;
}

export async function findImportRow(pool: pg.Pool, id: string): Promise<ImportRow | null> {
  const { rows } = await pool.query<ImportRow>(
    `SELECT id, institution_id AS "institutionId", mode, format, encoding, status, bytes_total::float8 AS "bytesTotal"
       FROM register_imports WHERE id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

const PROGRESS_EVERY_MS = 1000;

/**
 * Runs the import of job `importId` from `source`. The row ends `completed` or
 * `refused`; if the database or the source fails, the transaction is rolled back and
 * the error is thrown (the caller marks the row failed, or lets the job retry).
 */
export async function runImport(
  pool: pg.Pool,
  importId: string,
  job: Omit<NewImport, 'source'>,
  source: Readable,
  settings: { maxErrors: number; rebuildPercent: number },
  onProgress?: (progress: ImportProgress) => void,
  timings?: Record<string, number>,
): Promise<ImportOutcome> {
  await pool.query(
    `UPDATE register_imports SET status = 'running', attempts = attempts + 1, started_at = now(), completed_at = NULL,
            bytes_read = 0, rows_read = 0, rows_per_second = 0, refusal = NULL
      WHERE id = $1`,
    [importId],
  );
  const progress: ImportProgress = { bytesRead: 0, bytesTotal: job.bytesTotal, rowsRead: 0, rowsPerSecond: 0 };
  let writing: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    onProgress?.(progress);
    writing = writing.then(() =>
      stopped
        ? undefined
        : pool
            .query(
              `UPDATE register_imports SET bytes_read = $2, rows_read = $3, rows_per_second = $4 WHERE id = $1 AND status = 'running'`,
              [importId, progress.bytesRead, progress.rowsRead, progress.rowsPerSecond],
            )
            .catch(() => undefined),
    );
  }, PROGRESS_EVERY_MS);
  const stop = async () => {
    stopped = true;
    clearInterval(timer);
    await writing;
  };

  const client = await pool.connect();
  let broken = false;
  // A connection lost mid-import is an error of the import, not of the process.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    const outcome = await importRegister({
      client,
      institutionId: job.institutionId,
      mode: job.mode,
      format: job.format,
      encoding: job.encoding,
      source,
      bytesTotal: job.bytesTotal,
      maxErrors: settings.maxErrors,
      rebuildPercent: settings.rebuildPercent,
      progress,
      timings,
      beforeCommit: async (tx, done) => {
        await stop();
        await tx.query(
          `UPDATE register_imports SET status = 'completed', completed_at = now(),
                  bytes_read = $2, rows_read = $3, rows_per_second = $4,
                  inserted = $5, updated = $6, closed = $7, unchanged = $8, rejected = $9, errors = $10
            WHERE id = $1`,
          [
            importId,
            done.progress.bytesRead,
            done.progress.rowsRead,
            done.progress.rowsPerSecond,
            done.counts.inserted,
            done.counts.updated,
            done.counts.closed,
            done.counts.unchanged,
            done.counts.rejected,
            JSON.stringify(done.errors),
          ],
        );
      },
    });
    await stop();
    onProgress?.(progress);
    if (outcome.status === 'refused') {
      await pool.query(
        `UPDATE register_imports SET status = 'refused', refusal = $2, completed_at = now(), bytes_read = $3, rows_read = $4
          WHERE id = $1`,
        [importId, outcome.reason, progress.bytesRead, progress.rowsRead],
      );
    }
    return outcome;
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    await stop();
    client.off('error', onError);
    // A connection that failed mid-COPY is not given back to the pool.
    client.release(broken ? true : undefined);
  }
}

export async function markImportFailed(pool: pg.Pool | pg.ClientBase, importId: string, reason: string): Promise<void> {
  await pool.query(
    `UPDATE register_imports SET status = 'failed', refusal = $2, completed_at = now() WHERE id = $1 AND status IN ('queued', 'running')`,
    [importId, reason],
  );
}
