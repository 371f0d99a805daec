import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor.js';

export interface StoredIdempotencyRecord {
  fingerprint: Buffer;
  responseStatus: number | null;
  responseBody: unknown;
}

@Injectable()
export class IdempotencyRepository {
  /**
   * Claims the key inside the caller's transaction. A concurrent request with the same
   * key blocks here on the primary key until the first commits (then it reads the
   * stored answer) or rolls back (then it claims the key itself).
   */
  async claim(
    executor: SqlExecutor,
    institutionId: string,
    key: string,
    fingerprint: Buffer,
  ): Promise<StoredIdempotencyRecord | undefined> {
    const inserted: unknown[] = await executor.query(
      `INSERT INTO idempotency_keys (institution_id, idempotency_key, request_fingerprint)
       VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1`,
      [institutionId, key, fingerprint],
    );
    if (inserted.length > 0) return undefined;
    const rows: StoredIdempotencyRecord[] = await executor.query(
      `SELECT request_fingerprint AS fingerprint, response_status AS "responseStatus", response_body AS "responseBody"
         FROM idempotency_keys WHERE institution_id = $1 AND idempotency_key = $2`,
      [institutionId, key],
    );
    return rows[0];
  }

  async complete(executor: SqlExecutor, institutionId: string, key: string, status: number, body: unknown): Promise<void> {
    await executor.query(
      `UPDATE idempotency_keys SET response_status = $3, response_body = $4
        WHERE institution_id = $1 AND idempotency_key = $2`,
      [institutionId, key, status, JSON.stringify(body)],
    );
  }
}
