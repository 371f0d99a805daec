import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { API_KEY_REVOKED_CHANNEL } from './api-key-cache.js';
import type { SqlExecutor } from '../database/sql-executor.js';

export interface ApiKeyRecord {
  id: string;
  institutionId: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: Date;
  revokedAt: Date | null;
}

export interface ActiveApiKey {
  id: string;
  institutionId: string;
  institutionCode: string;
  scopes: string[];
}

const COLUMNS = `id, institution_id AS "institutionId", name, key_prefix AS prefix, scopes,
  created_at AS "createdAt", revoked_at AS "revokedAt"`;

@Injectable()
export class ApiKeysRepository {
  constructor(private readonly db: DataSource) {}

  /** The authentication look-up: one indexed read per request. */
  async findActiveByHash(hash: Buffer): Promise<ActiveApiKey | undefined> {
    const rows: ActiveApiKey[] = await this.db.query(
      `SELECT k.id, k.institution_id AS "institutionId", i.code AS "institutionCode", k.scopes
         FROM api_keys k JOIN institutions i ON i.id = k.institution_id
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
      [hash],
    );
    return rows[0];
  }

  async insert(
    executor: SqlExecutor,
    row: { id: string; institutionId: string; name: string; hash: Buffer; prefix: string; scopes: string[] },
  ): Promise<ApiKeyRecord> {
    const rows: ApiKeyRecord[] = await executor.query(
      `INSERT INTO api_keys (id, institution_id, name, key_hash, key_prefix, scopes)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [row.id, row.institutionId, row.name, row.hash, row.prefix, row.scopes],
    );
    return rows[0];
  }

  async listForInstitution(institutionId: string): Promise<ApiKeyRecord[]> {
    return this.db.query(`SELECT ${COLUMNS} FROM api_keys WHERE institution_id = $1 ORDER BY created_at, id`, [
      institutionId,
    ]);
  }

  async findForInstitution(institutionId: string, id: string): Promise<ApiKeyRecord | undefined> {
    const rows: ApiKeyRecord[] = await this.db.query(
      `SELECT ${COLUMNS} FROM api_keys WHERE institution_id = $1 AND id = $2`,
      [institutionId, id],
    );
    return rows[0];
  }

  /**
   * Revokes an active key and announces it (NOTIFY is delivered at commit) so that
   * every API process drops it from its cache; undefined when it was already revoked.
   */
  async revoke(executor: SqlExecutor, institutionId: string, id: string): Promise<ApiKeyRecord | undefined> {
    const [rows] = await executor.query(
      `UPDATE api_keys SET revoked_at = now()
        WHERE institution_id = $1 AND id = $2 AND revoked_at IS NULL
        RETURNING ${COLUMNS}`,
      [institutionId, id],
    );
    const revoked = (rows as ApiKeyRecord[])[0];
    if (revoked) await executor.query(`SELECT pg_notify($1, $2)`, [API_KEY_REVOKED_CHANNEL, id]);
    return revoked;
  }
}
