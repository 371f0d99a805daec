import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';

/** What a request finds when it claims its Idempotency-Key. */
export type IdempotencyClaim =
  | { state: 'new' }
  | { state: 'replay'; status: number; body: unknown }
  | { state: 'reused' };

@Injectable()
export class IdempotencyRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Claims a key inside the caller's transaction: a new key (or one past its time to
   * live) is the caller's; a live one answers what it answered, or `reused` when the
   * request differs. A concurrent claim of the same key waits on the primary key
   * until the first transaction ends, then sees its answer.
   */
  async claim(
    executor: SqlExecutor,
    institutionId: string,
    key: string,
    fingerprints: Buffer[],
    ttlHours: number,
  ): Promise<IdempotencyClaim> {
    const claimed: unknown[] = await executor.query(
      `INSERT INTO idempotency_keys (institution_id, idempotency_key, request_fingerprint)
       VALUES ($1, $2, $3)
       ON CONFLICT (institution_id, idempotency_key) DO UPDATE
          SET request_fingerprint = EXCLUDED.request_fingerprint, response_status = NULL,
              response_body = NULL, created_at = now()
        WHERE idempotency_keys.created_at < now() - make_interval(hours => $4)
       RETURNING 1`,
      [institutionId, key, fingerprints[0], ttlHours],
    );
    if (claimed.length === 1) return { state: 'new' };
    const [row]: { request_fingerprint: Buffer; response_status: number; response_body: unknown }[] = await executor.query(
      `SELECT request_fingerprint, response_status, response_body FROM idempotency_keys
        WHERE institution_id = $1 AND idempotency_key = $2`,
      [institutionId, key],
    );
    if (!fingerprints.some((f) => f.equals(row.request_fingerprint))) return { state: 'reused' };
    return { state: 'replay', status: row.response_status, body: row.response_body };
  }

  /** Stores the answer of a claimed key, in the same transaction as the work. */
  async complete(executor: SqlExecutor, institutionId: string, key: string, status: number, body: unknown): Promise<void> {
    await executor.query(
      `UPDATE idempotency_keys SET response_status = $3, response_body = $4
        WHERE institution_id = $1 AND idempotency_key = $2`,
      [institutionId, key, status, JSON.stringify(body)],
    );
  }

  /** The answer stored for a key, if its request completed (whatever its age: the caller decides). */
  async storedAnswer(institutionId: string, key: string): Promise<unknown | undefined> {
    const rows: { response_body: unknown }[] = await this.db.query(
      `SELECT response_body FROM idempotency_keys
        WHERE institution_id = $1 AND idempotency_key = $2 AND response_body IS NOT NULL`,
      [institutionId, key],
    );
    return rows[0]?.response_body;
  }

  /** Deletes up to `batch` keys older than the time to live; returns how many went. */
  async purgeOlderThan(hours: number, batch: number): Promise<number> {
    const [, count] = await this.db.query(
      `DELETE FROM idempotency_keys
        WHERE ctid = ANY (ARRAY(
          SELECT ctid FROM idempotency_keys
           WHERE created_at < now() - make_interval(hours => $1)
           LIMIT $2))`,
      [hours, batch],
    );
    return count as number;
  }
}
