import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { DomainError } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { JobName, QueueName, registerImportJobOptions } from '../queue/queues.js';
import type { RegisterImportView } from './dto/register-import.view.js';
import { markImportFailed } from './register-import-runner.js';
import type { ImportMode } from './register-importer.js';
import { type RegisterEncoding, type RegisterFormat, sniffRefusal } from './register-parser.js';

/** Spool chunk size: big enough for few rows, small enough for a flat memory. */
const CHUNK_BYTES = 1024 * 1024;
/** The first bytes that decide whether an upload can be a register. */
const SNIFF_BYTES = 64 * 1024;

export interface ImportRegisterJob {
  importId: string;
}

/** `text/csv; charset=…` and `application/x-ndjson` → format and encoding, or null. */
export function uploadFormat(contentType: string | undefined): { format: RegisterFormat; encoding: RegisterEncoding } | null {
  const [type, ...params] = (contentType ?? '').split(';').map((p) => p.trim().toLowerCase());
  const format = type === 'text/csv' ? 'csv' : type === 'application/x-ndjson' ? 'ndjson' : null;
  if (!format) return null;
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (charset === undefined) return { format, encoding: 'auto' };
  if (charset === 'utf-8' || charset === 'utf8') return { format, encoding: 'utf-8' };
  if (['shift_jis', 'shift-jis', 'sjis', 'cp932', 'windows-31j', 'ms_kanji'].includes(charset)) return { format, encoding: 'shift_jis' };
  return null;
}

function spoolFull(max: number): DomainError {
  return new DomainError(
    'REGISTER_SPOOL_FULL',
    `An institution's spooled register uploads are at most ${max} bytes (REGISTER_SPOOL_MAX_BYTES_PER_INSTITUTION); nothing was kept`,
  );
}

interface ImportRecord {
  id: string;
  status: RegisterImportView['status'];
  mode: string;
  format: string;
  encoding: string;
  source: string;
  refusal: string | null;
  bytes_total: string | null;
  bytes_read: string;
  rows_read: string;
  rows_per_second: number;
  inserted: number | null;
  updated: number | null;
  closed: number | null;
  unchanged: number | null;
  rejected: number | null;
  errors: RegisterImportView['errors'];
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

function toView(r: ImportRecord): RegisterImportView {
  return {
    id: r.id,
    status: r.status,
    mode: r.mode,
    format: r.format,
    encoding: r.encoding,
    source: r.source,
    ...(r.refusal ? { reason: r.refusal } : {}),
    progress: {
      bytesRead: Number(r.bytes_read),
      bytesTotal: r.bytes_total === null ? null : Number(r.bytes_total),
      rowsRead: Number(r.rows_read),
      rowsPerSecond: r.rows_per_second,
    },
    ...(r.status === 'completed'
      ? { counts: { inserted: r.inserted!, updated: r.updated!, closed: r.closed!, unchanged: r.unchanged!, rejected: r.rejected! } }
      : {}),
    errors: r.errors,
    createdAt: r.created_at.toISOString(),
    ...(r.started_at ? { startedAt: r.started_at.toISOString() } : {}),
    ...(r.completed_at ? { completedAt: r.completed_at.toISOString() } : {}),
  };
}

/**
 * Register uploads: the body is streamed into a spool table (chunks of 1 MiB) so that
 * the worker, possibly on another machine, imports it; the job carries the import id.
 */
@Injectable()
export class RegisterImportsService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly audit: AuditService,
    @InjectQueue(QueueName.Register) private readonly queue: Queue,
  ) {}

  async upload(
    caller: InstitutionPrincipal,
    mode: ImportMode,
    contentType: string | undefined,
    contentLength: number | null,
    body: Readable | undefined,
    actor: AuditActor,
  ): Promise<RegisterImportView> {
    const kind = uploadFormat(contentType);
    if (!kind) {
      throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'The register is sent as text/csv (charset utf-8 or shift_jis) or application/x-ndjson');
    }
    const limit = this.config.REGISTER_UPLOAD_LIMIT_BYTES;
    if (contentLength !== null && contentLength > limit) {
      throw new DomainError('PAYLOAD_TOO_LARGE', `A register upload is at most ${limit} bytes`);
    }
    // Fastify hands no stream for an empty body.
    if (!body || typeof body[Symbol.asyncIterator] !== 'function') {
      throw new DomainError('REGISTER_FILE_REFUSED', 'the file is empty; nothing was written');
    }
    const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;

    // The first 64 KiB decide whether this can be a register, before anything is written.
    let head = Buffer.alloc(0);
    let ended = false;
    while (head.length < SNIFF_BYTES) {
      const next = await chunks.next();
      if (next.done) {
        ended = true;
        break;
      }
      head = Buffer.concat([head, next.value]);
    }
    const refusal = sniffRefusal(head, kind.format, kind.encoding, ended);
    if (refusal) throw new DomainError('REGISTER_FILE_REFUSED', `${refusal}; nothing was written`);

    // The import's row first: the partial unique index register_imports_one_active_upload
    // lets one upload per institution be queued or running (also between concurrent
    // requests), so that what this one spools is the institution's spool, counted here.
    const spoolMax = this.config.REGISTER_SPOOL_MAX_BYTES_PER_INSTITUTION;
    const accepted = await this.dataSource.transaction(async (tx) => {
      const importId = randomUUID();
      const inserted: { id: string }[] = await tx.query(
        `INSERT INTO register_imports (id, institution_id, source, mode, format, encoding, status, bytes_total)
         VALUES ($1, $2, 'upload', $3, $4, $5, 'queued', $6)
         ON CONFLICT (institution_id) WHERE source = 'upload' AND status IN ('queued', 'running') DO NOTHING
         RETURNING id`,
        [importId, caller.institutionId, mode, kind.format, kind.encoding, contentLength],
      );
      if (inserted.length === 0) return undefined;
      // What an ended import left spooled (a worker that died between its outcome and the
      // spool's deletion) is nobody's: it goes. What is left counts against the bound.
      await tx.query(
        `DELETE FROM register_import_chunks c USING register_imports r
          WHERE c.import_id = r.id AND r.institution_id = $1 AND r.status IN ('completed', 'failed', 'refused')`,
        [caller.institutionId],
      );
      const [{ bytes }]: { bytes: string }[] = await tx.query(
        `SELECT coalesce(sum(octet_length(c.data)), 0) AS bytes
           FROM register_import_chunks c JOIN register_imports r ON r.id = c.import_id
          WHERE r.institution_id = $1`,
        [caller.institutionId],
      );
      const room = spoolMax - Number(bytes);
      // Known too large from Content-Length: refused before anything is written (rolled back).
      if (contentLength !== null && contentLength > room) throw spoolFull(spoolMax);
      await this.audit.record(tx, actor, {
        action: 'register.import',
        resourceType: 'register-import',
        resourceId: importId,
        details: { mode, format: kind.format, encoding: kind.encoding, bytes: contentLength },
      });
      return { id: importId, room };
    });
    if (!accepted) {
      throw new DomainError('REGISTER_IMPORT_IN_PROGRESS', 'An upload of this register is already queued or running; send the next one when it has ended');
    }
    const { id, room } = accepted;
    /** Over the upload limit, or over what the institution may still spool. */
    const refuseAt = (bytes: number): DomainError | undefined =>
      bytes > limit ? new DomainError('PAYLOAD_TOO_LARGE', `A register upload is at most ${limit} bytes`) : bytes > room ? spoolFull(spoolMax) : undefined;

    // Spool: chunks of about 1 MiB, in order. If the upload breaks off or is refused, the
    // import and its chunks go (the audit row stays: the upload was attempted).
    let total = 0;
    try {
      let seq = 0;
      let pending: Buffer[] = [head];
      let pendingBytes = head.length;
      const flush = async () => {
        if (pendingBytes === 0) return;
        // The chunk, and the upload's sign of life for the sweeper (touched_at).
        await this.pool.query(
          `WITH chunk AS (INSERT INTO register_import_chunks (import_id, seq, data) VALUES ($1, $2, $3))
           UPDATE register_imports SET touched_at = now() WHERE id = $1`,
          [id, seq++, Buffer.concat(pending, pendingBytes)],
        );
        pending = [];
        pendingBytes = 0;
      };
      total = head.length;
      let refused = refuseAt(total);
      if (refused) throw refused;
      while (!ended) {
        const next = await chunks.next();
        if (next.done) break;
        total += next.value.length;
        refused = refuseAt(total);
        if (refused) throw refused;
        pending.push(next.value);
        pendingBytes += next.value.length;
        if (pendingBytes >= CHUNK_BYTES) await flush();
      }
      await flush();
      // Spooled whole: from here the sweeper enqueues it again if its job is lost.
      await this.pool.query('UPDATE register_imports SET bytes_total = $2, spooled_at = now(), touched_at = now() WHERE id = $1', [id, total]);
    } catch (error) {
      await this.pool.query('DELETE FROM register_imports WHERE id = $1', [id]).catch(() => undefined);
      throw error;
    }
    // The answer is the import as accepted (queued), read before the job exists: read
    // after, a quick worker could already have it running.
    const view = await this.get(caller, id);
    try {
      await this.queue.add(JobName.ImportRegister, { importId: id } satisfies ImportRegisterJob, registerImportJobOptions(id));
    } catch (error) {
      // No job, no import: left queued, the row would refuse the institution's next uploads.
      // (Should this fail too, the sweeper enqueues the spooled upload again.)
      await markImportFailed(this.pool, id, 'the import could not be queued; nothing was written').catch(() => undefined);
      await this.pool.query('DELETE FROM register_import_chunks WHERE import_id = $1', [id]).catch(() => undefined);
      throw error;
    }
    return view;
  }

  async get(caller: InstitutionPrincipal, id: string): Promise<RegisterImportView> {
    const { rows } = isUuid(id)
      ? await this.pool.query<ImportRecord>('SELECT * FROM register_imports WHERE id = $1 AND institution_id = $2', [id, caller.institutionId])
      : { rows: [] };
    if (!rows[0]) throw new DomainError('NOT_FOUND', 'No such register import');
    return toView(rows[0]);
  }

  async list(caller: InstitutionPrincipal, limit: number): Promise<RegisterImportView[]> {
    const { rows } = await this.pool.query<ImportRecord>(
      'SELECT * FROM register_imports WHERE institution_id = $1 ORDER BY created_at DESC LIMIT $2',
      [caller.institutionId, limit],
    );
    return rows.map(toView);
  }
}
