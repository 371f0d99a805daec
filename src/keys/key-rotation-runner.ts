import type pg from 'pg';
import type { AuditActor, AuditEvent } from '../audit/audit-event.js';
import type { BlindIndex } from '../crypto/blind-index.js';
import { dataKeyAad, webhookSecretAad, type MasterKeySealer } from '../crypto/master-key-sealer.js';
import { CiphertextMismatchError, type MyNumberCipher, type NumberTable } from '../crypto/my-number-cipher.js';
import type { SqlExecutor } from '../database/sql-executor.js';

export const ROTATION_KINDS = ['blind-index', 'master-key'] as const;
export type RotationKind = (typeof ROTATION_KINDS)[number];
export const ROTATION_STATUSES = ['queued', 'running', 'completed', 'failed'] as const;
export type RotationStatus = (typeof ROTATION_STATUSES)[number];

/** The phases of each kind, in order: each walks one table by id. */
export const ROTATION_PHASES: Record<RotationKind, readonly string[]> = {
  'blind-index': ['subjects', 'inquiries'],
  'master-key': ['data-keys', 'webhook-secrets'],
};

export interface RotationRecord {
  id: string;
  kind: RotationKind;
  target: string;
  status: RotationStatus;
  source: 'api' | 'cli';
  total: string;
  done: string;
  moved: Record<string, number>;
  remaining: Record<string, number>;
  phase: string | null;
  cursor: string | null;
  runs: number;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

export interface KeyRotationDeps {
  pool: pg.Pool;
  blindIndex: BlindIndex;
  cipher: MyNumberCipher;
  sealer: MasterKeySealer;
  /** Rows per transaction. */
  batchSize: number;
  /** Pause between batches, to leave the database room for the traffic. */
  pauseMs: number;
  /** Appends audit rows in the given transaction (AuditService.record). */
  audit: (executor: SqlExecutor, actor: AuditActor, ...events: AuditEvent[]) => Promise<void>;
  log: (fields: Record<string, unknown>, message: string) => void;
}

export type RunOutcome = 'completed' | 'already-finished' | 'busy';

/** Raised when this process cannot run the rotation (it lacks the target key): another process may. */
export class RotationNotRunnableError extends Error {
  override name = 'RotationNotRunnableError';
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** A ciphertext still in format 1 (bound to its institution only, see MyNumberCipher). */
const INSTITUTION_BOUND = 'get_byte(my_number_ciphertext, 0) = 1';
/** A subject a blind-index rotation to the version in `param` moves: another version, or a format-1 ciphertext. */
const subjectToMove = (param: string) => `(blind_index_version <> ${param}::smallint OR ${INSTITUTION_BOUND})`;

/** A row holding a My Number ciphertext, as the rotation reads it. */
interface CipherRow {
  id: string;
  institution_id: string;
  blind_index_version: number;
  my_number_ciphertext: Buffer;
  data_key_id: string;
}

/** A row's number under the target version: its blind index and its re-sealed ciphertext. */
interface Resealed {
  digest: Buffer;
  ciphertext: Buffer;
  dataKeyId: string;
}
/** Both halves of the session advisory lock that keeps one runner per rotation. */
const LOCK_CLASS = 0x6b726f74; // 'krot'

/** A pg client as the SqlExecutor the audit repository writes with. */
const executorOf = (client: pg.PoolClient): SqlExecutor => ({
  query: async (sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as never,
});

interface Batch {
  /** Rows looked at (the cursor moves past them). */
  seen: number;
  /** Progress towards `total`. */
  done: number;
  moved: Record<string, number>;
  lastId: string | null;
}

/**
 * Runs one key rotation to its end, batch by batch. Each batch is one transaction that
 * moves its rows and commits the cursor with them, so a runner that dies (SIGKILL, lost
 * connection) leaves the rotation at its last committed batch, and the next runner
 * resumes there. Every step is also idempotent (rows are moved only "where still under
 * another key"), so a batch that runs twice changes nothing.
 *
 * One runner per rotation: a session advisory lock, released by Postgres when the
 * runner's connection ends, whatever killed it.
 *
 * Plaintext numbers exist only in this process's memory, one batch at a time; what is
 * written is the new HMAC, and what is logged or stored are ids and counts.
 */
export class KeyRotationRunner {
  constructor(private readonly deps: KeyRotationDeps) {}

  async run(id: string): Promise<RunOutcome> {
    const client = await this.deps.pool.connect();
    let locked = false;
    try {
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_CLASS, id]);
      locked = lock.rows[0].ok;
      if (!locked) return 'busy';
      let row = await this.load(client, id);
      if (!row || row.status === 'completed' || row.status === 'failed') return 'already-finished';
      this.assertRunnable(row);
      row = await this.start(client, row);
      const phases = ROTATION_PHASES[row.kind];
      for (let p = phases.indexOf(row.phase!); p < phases.length; p++) {
        const phase = phases[p];
        let cursor = row.phase === phase ? row.cursor : null;
        if (row.phase !== phase) {
          await client.query(`UPDATE key_rotations SET phase = $2, cursor = NULL, updated_at = now() WHERE id = $1`, [id, phase]);
          row.phase = phase;
        }
        for (;;) {
          const batch = await this.batch(client, row, phase, cursor);
          if (batch.seen === 0) break;
          cursor = batch.lastId;
          if (this.deps.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.deps.pauseMs));
        }
      }
      await this.finish(client, row);
      return 'completed';
    } finally {
      if (locked) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, id]).catch(() => undefined);
      client.release();
    }
  }

  /** Marks a rotation failed (the job's last attempt failed): a new rotation can then be started. */
  static async markFailed(pool: pg.Pool, id: string, reason: string): Promise<void> {
    await pool.query(
      `UPDATE key_rotations SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [id, reason.slice(0, 500)],
    );
  }

  private async load(client: pg.PoolClient, id: string): Promise<RotationRecord | undefined> {
    const { rows } = await client.query<RotationRecord>('SELECT * FROM key_rotations WHERE id = $1', [id]);
    return rows[0];
  }

  private assertRunnable(row: RotationRecord): void {
    const held = row.kind === 'blind-index' ? this.deps.blindIndex.holds(Number(row.target)) : this.deps.sealer.holds(row.target);
    if (!held) {
      throw new RotationNotRunnableError(
        `this process does not hold the ${row.kind} key "${row.target}" that rotation ${row.id} moves rows to; restart it with the new key configured`,
      );
    }
  }

  /** First run: counts the rows to move. Later runs: resume from the committed cursor. */
  private async start(client: pg.PoolClient, row: RotationRecord): Promise<RotationRecord> {
    if (row.phase === null) {
      const total = await this.countOld(client, row.kind, row.target);
      const phase = ROTATION_PHASES[row.kind][0];
      const { rows } = await client.query<RotationRecord>(
        `UPDATE key_rotations SET status = 'running', started_at = now(), total = $2, phase = $3, cursor = NULL,
                runs = runs + 1, updated_at = now()
          WHERE id = $1 RETURNING *`,
        [row.id, total, phase],
      );
      this.deps.log({ rotationId: row.id, kind: row.kind, target: row.target, total }, 'key rotation started');
      return rows[0];
    }
    const { rows } = await client.query<RotationRecord>(
      `UPDATE key_rotations SET status = 'running', runs = runs + 1, updated_at = now() WHERE id = $1 RETURNING *`,
      [row.id],
    );
    this.deps.log(
      { rotationId: row.id, kind: row.kind, phase: row.phase, cursor: row.cursor, done: Number(row.done), runs: rows[0].runs },
      'key rotation resumed',
    );
    return rows[0];
  }

  /** Rows under another key than the target, per table. */
  private async countOld(executor: pg.PoolClient, kind: RotationKind, target: string): Promise<number> {
    const counts = await this.countOldPerTable(executor, kind, target);
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  private async countOldPerTable(executor: pg.PoolClient, kind: RotationKind, target: string): Promise<Record<string, number>> {
    const sql =
      kind === 'blind-index'
        ? `SELECT (SELECT count(*) FROM subjects WHERE ${subjectToMove('$1')}) AS subjects,
                  (SELECT count(*) FROM inquiries
                    WHERE blind_index_version <> $1::smallint
                       OR (my_number_ciphertext IS NOT NULL AND ${INSTITUTION_BOUND})) AS inquiries`
        : `SELECT (SELECT count(*) FROM data_keys WHERE master_key_id <> $1) AS "dataKeys",
                  (SELECT count(*) FROM institutions WHERE webhook_secret_master_key_id <> $1)
                  + (SELECT count(*) FROM institutions WHERE webhook_previous_secret_master_key_id <> $1) AS "webhookSecrets"`;
    const { rows } = await executor.query<Record<string, string>>(sql, [target]);
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
  }

  /**
   * Each row's My Number, opened from its ciphertext (never kept): its blind index
   * under `target`, and its ciphertext re-sealed for the row under `target` (the
   * ciphertext names the row's blind-index version). Null for a row whose ciphertext
   * does not open for it (moved from another row, altered): it is left as it is, and
   * logged by id, rather than stopping the rotation.
   */
  private async resealUnder(table: NumberTable, target: number, rows: CipherRow[]): Promise<Array<Resealed | null>> {
    const out: Array<Resealed | null> = [];
    for (const r of rows) {
      let myNumber: string;
      try {
        myNumber = await this.deps.cipher.decrypt(
          { dataKeyId: r.data_key_id, ciphertext: r.my_number_ciphertext },
          { table, id: r.id, institutionId: r.institution_id, blindIndexVersion: r.blind_index_version },
        );
      } catch (error) {
        if (!(error instanceof CiphertextMismatchError)) throw error;
        this.deps.log({ table, id: r.id }, 'key rotation: a ciphertext does not open for its row; left as it is');
        out.push(null);
        continue;
      }
      const sealed = await this.deps.cipher.encrypt(myNumber, {
        table,
        id: r.id,
        institutionId: r.institution_id,
        blindIndexVersion: target,
      });
      out.push({ digest: this.deps.blindIndex.computeWith(target, myNumber).digest, ...sealed });
    }
    return out;
  }

  /** One batch of one phase, committed with the cursor. */
  private async batch(client: pg.PoolClient, row: RotationRecord, phase: string, cursor: string | null): Promise<Batch> {
    await client.query('BEGIN');
    try {
      const batch = await this.phaseBatch(client, row.target, phase, cursor ?? NIL_UUID);
      if (batch.seen > 0) {
        await client.query(
          `UPDATE key_rotations
              SET cursor = $2, done = done + $3, updated_at = now(),
                  moved = (SELECT jsonb_object_agg(k, coalesce((moved ->> k)::bigint, 0) + coalesce(($4::jsonb ->> k)::bigint, 0))
                             FROM jsonb_object_keys(moved || $4::jsonb) AS k)
            WHERE id = $1`,
          [row.id, batch.lastId, batch.done, JSON.stringify(batch.moved)],
        );
      }
      await client.query('COMMIT');
      return batch;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  private phaseBatch(client: pg.PoolClient, target: string, phase: string, after: string): Promise<Batch> {
    switch (phase) {
      case 'subjects':
        return this.subjectsBatch(client, Number(target), after);
      case 'inquiries':
        return this.inquiriesBatch(client, Number(target), after);
      case 'data-keys':
        return this.dataKeysBatch(client, target, after);
      case 'webhook-secrets':
        return this.webhookSecretsBatch(client, target, after);
      default:
        throw new Error(`unknown rotation phase ${phase}`);
    }
  }

  /**
   * Subjects: decrypt, HMAC under the target version, re-seal for the row under the
   * target version, update where the ciphertext is still the one read. Subjects
   * already under the target whose ciphertext is still institution-bound (format 1,
   * written before ciphertexts were bound to rows) are re-sealed the same way. The
   * (old → new) pairs of the batch also re-index the inquiries about these numbers,
   * including final ones that no longer hold a ciphertext; those that still hold one
   * are opened and re-sealed too.
   *
   * A subject whose number is already held under the target version at the same
   * institution (two records for one number, possible only if processes with
   * different active versions created them at the same moment) is left under its old
   * version and counted in `remaining`.
   */
  private async subjectsBatch(client: pg.PoolClient, target: number, after: string): Promise<Batch> {
    const { rows } = await client.query<CipherRow & { blind_index: Buffer }>(
      `SELECT id, institution_id, blind_index_version, blind_index, my_number_ciphertext, data_key_id
         FROM subjects WHERE id > $1 AND ${subjectToMove('$2')} ORDER BY id LIMIT $3`,
      [after, target, this.deps.batchSize],
    );
    if (rows.length === 0) return { seen: 0, done: 0, moved: {}, lastId: null };
    const resealed = await this.resealUnder('subjects', target, rows);
    const reindexing = rows.map((_, i) => i).filter((i) => resealed[i] !== null && rows[i].blind_index_version !== target);
    // Records already under the target (see above). A LATERAL probe with LIMIT 1 keeps
    // this one unique-index probe per row whatever the statistics say (they are stale
    // during a rotation: the target version looked empty when last analysed).
    const { rows: taken } = await client.query<{ ord: string }>(
      `SELECT v.ord FROM unnest($1::bytea[], $2::uuid[]) WITH ORDINALITY AS v (digest, institution_id, ord)
        CROSS JOIN LATERAL (SELECT 1 FROM subjects d
                             WHERE d.blind_index_version = $3 AND d.blind_index = v.digest AND d.institution_id = v.institution_id
                             LIMIT 1) x`,
      [reindexing.map((i) => resealed[i]!.digest), reindexing.map((i) => rows[i].institution_id), target],
    );
    const skip = new Set(taken.map((t) => reindexing[Number(t.ord) - 1]));
    const moving = rows.map((_, i) => i).filter((i) => resealed[i] !== null && !skip.has(i));
    const subjects = await client.query(
      `UPDATE subjects s SET blind_index_version = $2, blind_index = v.digest, my_number_ciphertext = v.ciphertext, data_key_id = v.data_key_id
         FROM unnest($1::uuid[], $3::bytea[], $4::bytea[], $5::uuid[], $6::bytea[]) AS v (id, digest, ciphertext, data_key_id, old_ciphertext)
        WHERE s.id = v.id AND s.my_number_ciphertext = v.old_ciphertext`,
      [
        moving.map((i) => rows[i].id),
        target,
        moving.map((i) => resealed[i]!.digest),
        moving.map((i) => resealed[i]!.ciphertext),
        moving.map((i) => resealed[i]!.dataKeyId),
        moving.map((i) => rows[i].my_number_ciphertext),
      ],
    );
    // Every inquiry under one of the batch's old digests, probed through inquiries_subject
    // (only the subjects that changed version: the others' inquiries are under the target).
    const pairs = moving.filter((i) => rows[i].blind_index_version !== target);
    const { rows: found } = await client.query<CipherRow & { new_digest: Buffer }>(
      `SELECT x.id, x.institution_id, x.blind_index_version, x.my_number_ciphertext, x.data_key_id, m.new_digest
         FROM (SELECT DISTINCT * FROM unnest($1::smallint[], $2::bytea[], $3::bytea[]) AS u (old_version, old_digest, new_digest)) m
         CROSS JOIN LATERAL (SELECT id, institution_id, blind_index_version, my_number_ciphertext, data_key_id FROM inquiries q
                              WHERE q.blind_index_version = m.old_version AND q.blind_index = m.old_digest) x`,
      [pairs.map((i) => rows[i].blind_index_version), pairs.map((i) => rows[i].blind_index), pairs.map((i) => resealed[i]!.digest)],
    );
    const held = found.filter((r) => r.my_number_ciphertext !== null);
    const heldResealed = new Map((await this.resealUnder('inquiries', target, held)).map((r, i) => [held[i].id, r]));
    // A final inquiry (no ciphertext) takes the new digest; one that holds a ciphertext
    // takes it with its re-sealed ciphertext, unless that did not open (left as it is).
    const inquiryUpdates = found.filter((r) => r.my_number_ciphertext === null || heldResealed.get(r.id));
    const inquiries = await this.updateInquiries(
      client,
      target,
      inquiryUpdates.map((r) => ({
        id: r.id,
        digest: r.new_digest,
        sealed: r.my_number_ciphertext === null ? null : heldResealed.get(r.id)!,
        old: r.my_number_ciphertext,
      })),
    );
    const movedSubjects = subjects.rowCount ?? 0;
    return {
      seen: rows.length,
      done: movedSubjects + inquiries,
      moved: { subjects: movedSubjects, inquiriesBySubject: inquiries },
      lastId: rows[rows.length - 1].id,
    };
  }

  /**
   * Moves inquiries to the target version with their re-sealed ciphertexts, where the
   * ciphertext is still the one read. One finalised meanwhile (its ciphertext dropped)
   * still takes the new digest, and keeps no ciphertext.
   */
  private async updateInquiries(
    client: pg.PoolClient,
    target: number,
    updates: Array<{ id: string; digest: Buffer; sealed: Resealed | null; old: Buffer | null }>,
  ): Promise<number> {
    if (updates.length === 0) return 0;
    const updated = await client.query(
      `UPDATE inquiries i
          SET blind_index_version = $2, blind_index = v.digest,
              my_number_ciphertext = CASE WHEN i.my_number_ciphertext IS NULL THEN NULL ELSE v.ciphertext END,
              data_key_id = CASE WHEN i.my_number_ciphertext IS NULL THEN NULL ELSE v.data_key_id END
         FROM unnest($1::uuid[], $3::bytea[], $4::bytea[], $5::uuid[], $6::bytea[]) AS v (id, digest, ciphertext, data_key_id, old_ciphertext)
        WHERE i.id = v.id
          AND (i.my_number_ciphertext = v.old_ciphertext
               OR (i.my_number_ciphertext IS NULL AND i.blind_index_version <> $2))`,
      [
        updates.map((u) => u.id),
        target,
        updates.map((u) => u.digest),
        updates.map((u) => u.sealed?.ciphertext ?? null),
        updates.map((u) => u.sealed?.dataKeyId ?? null),
        updates.map((u) => u.old),
      ],
    );
    return updated.rowCount ?? 0;
  }

  /**
   * Inquiries still under an old version after the subjects, or still holding an
   * institution-bound ciphertext: those that hold their ciphertext (not final yet)
   * are re-indexed and re-sealed from it. Final ones about a number never linked here
   * cannot be: they stay, and are counted in `remaining`.
   */
  private async inquiriesBatch(client: pg.PoolClient, target: number, after: string): Promise<Batch> {
    const { rows } = await client.query<CipherRow>(
      `SELECT id, institution_id, blind_index_version, my_number_ciphertext, data_key_id
         FROM inquiries
        WHERE id > $1 AND my_number_ciphertext IS NOT NULL AND (blind_index_version <> $2 OR ${INSTITUTION_BOUND})
        ORDER BY id LIMIT $3`,
      [after, target, this.deps.batchSize],
    );
    if (rows.length === 0) return { seen: 0, done: 0, moved: {}, lastId: null };
    const resealed = await this.resealUnder('inquiries', target, rows);
    const moved = await this.updateInquiries(
      client,
      target,
      rows.flatMap((r, i) => (resealed[i] ? [{ id: r.id, digest: resealed[i].digest, sealed: resealed[i], old: r.my_number_ciphertext }] : [])),
    );
    return { seen: rows.length, done: moved, moved: { inquiriesByCiphertext: moved }, lastId: rows[rows.length - 1].id };
  }

  /**
   * Data keys: unwrap under the old master key, wrap under the target. The key itself
   * does not change, so nothing it encrypted is touched. The update checks the wrapped
   * value it read, so a row changed meanwhile is left for a later run.
   */
  private async dataKeysBatch(client: pg.PoolClient, target: string, after: string): Promise<Batch> {
    const { rows } = await client.query<{ id: string; master_key_id: string; wrapped_key: Buffer }>(
      `SELECT id, master_key_id, wrapped_key FROM data_keys WHERE id > $1 AND master_key_id <> $2 ORDER BY id LIMIT $3`,
      [after, target, this.deps.batchSize],
    );
    if (rows.length === 0) return { seen: 0, done: 0, moved: {}, lastId: null };
    const rewrapped = rows.map((r) => this.deps.sealer.reseal({ masterKeyId: r.master_key_id, ciphertext: r.wrapped_key }, dataKeyAad(r.id), target));
    const updated = await client.query(
      `UPDATE data_keys d SET master_key_id = $2, wrapped_key = v.wrapped
         FROM unnest($1::uuid[], $3::bytea[], $4::bytea[]) AS v (id, wrapped, old_wrapped)
        WHERE d.id = v.id AND d.wrapped_key = v.old_wrapped`,
      [rows.map((r) => r.id), target, rewrapped.map((w) => w.ciphertext), rows.map((r) => r.wrapped_key)],
    );
    const moved = updated.rowCount ?? 0;
    return { seen: rows.length, done: moved, moved: { dataKeys: moved }, lastId: rows[rows.length - 1].id };
  }

  /**
   * Webhook signing secrets, the current one and a rotation's previous one: same as data
   * keys; a secret re-issued meanwhile is not overwritten. Counted per secret moved.
   */
  private async webhookSecretsBatch(client: pg.PoolClient, target: string, after: string): Promise<Batch> {
    type Row = { id: string; current_key: string | null; current: Buffer | null; previous_key: string | null; previous: Buffer | null };
    const { rows } = await client.query<Row>(
      `SELECT id, webhook_secret_master_key_id AS current_key, webhook_secret_ciphertext AS current,
              webhook_previous_secret_master_key_id AS previous_key, webhook_previous_secret_ciphertext AS previous
         FROM institutions
        WHERE id > $1 AND (webhook_secret_master_key_id <> $2 OR webhook_previous_secret_master_key_id <> $2)
        ORDER BY id LIMIT $3`,
      [after, target, this.deps.batchSize],
    );
    if (rows.length === 0) return { seen: 0, done: 0, moved: {}, lastId: null };
    // Each secret under another key than the target, resealed; the others as they are.
    const reseal = (key: string | null, sealed: Buffer | null, id: string) =>
      key !== null && sealed !== null && key !== target
        ? this.deps.sealer.reseal({ masterKeyId: key, ciphertext: sealed }, webhookSecretAad(id), target)
        : null;
    const current = rows.map((r) => reseal(r.current_key, r.current, r.id));
    const previous = rows.map((r) => reseal(r.previous_key, r.previous, r.id));
    const updated = await client.query<{ moved: number }>(
      `UPDATE institutions i
          SET webhook_secret_master_key_id = CASE WHEN v.current IS NULL THEN i.webhook_secret_master_key_id ELSE $2 END,
              webhook_secret_ciphertext = coalesce(v.current, i.webhook_secret_ciphertext),
              webhook_previous_secret_master_key_id = CASE WHEN v.previous IS NULL THEN i.webhook_previous_secret_master_key_id ELSE $2 END,
              webhook_previous_secret_ciphertext = coalesce(v.previous, i.webhook_previous_secret_ciphertext)
         FROM unnest($1::uuid[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[]) AS v (id, current, old_current, previous, old_previous)
        WHERE i.id = v.id
          AND i.webhook_secret_ciphertext IS NOT DISTINCT FROM v.old_current
          AND i.webhook_previous_secret_ciphertext IS NOT DISTINCT FROM v.old_previous
       RETURNING (v.current IS NOT NULL)::int + (v.previous IS NOT NULL)::int AS moved`,
      [
        rows.map((r) => r.id),
        target,
        current.map((s) => s?.ciphertext ?? null),
        rows.map((r) => r.current),
        previous.map((s) => s?.ciphertext ?? null),
        rows.map((r) => r.previous),
      ],
    );
    const moved = updated.rows.reduce((n, r) => n + r.moved, 0);
    return { seen: rows.length, done: moved, moved: { webhookSecrets: moved }, lastId: rows[rows.length - 1].id };
  }

  /** Counts what stays under an old key, marks the rotation completed, audits it. */
  private async finish(client: pg.PoolClient, row: RotationRecord): Promise<void> {
    const remaining = await this.countOldPerTable(client, row.kind, row.target);
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<RotationRecord>(
        `UPDATE key_rotations SET status = 'completed', remaining = $2, phase = NULL, cursor = NULL,
                finished_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'running' RETURNING *`,
        [row.id, JSON.stringify(remaining)],
      );
      if (rows[0]) {
        await this.deps.audit(executorOf(client), { actorType: 'system' }, {
          action: 'key-rotation.complete',
          resourceType: 'key-rotation',
          resourceId: row.id,
          details: { kind: row.kind, target: row.target, moved: rows[0].moved, remaining },
        });
      }
      await client.query('COMMIT');
      this.deps.log({ rotationId: row.id, kind: row.kind, target: row.target, moved: rows[0]?.moved, remaining }, 'key rotation completed');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}
