import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';

export interface Institution {
  id: string;
  code: string;
  name: string;
  webhookUrl: string | null;
  /** Set when the receiver answered 410 Gone: nothing is sent until the URL is set again. */
  webhookDisabledAt: Date | null;
  createdAt: Date;
}

const COLUMNS = `id, code, name, webhook_url AS "webhookUrl", webhook_disabled_at AS "webhookDisabledAt", created_at AS "createdAt"`;

@Injectable()
export class InstitutionsRepository {
  constructor(private readonly db: DataSource) {}

  /** Inserts unless the code is taken; undefined when it is. */
  async insert(executor: SqlExecutor, row: Omit<Institution, 'createdAt' | 'webhookDisabledAt'>): Promise<Institution | undefined> {
    const rows: Institution[] = await executor.query(
      `INSERT INTO institutions (id, code, name, webhook_url) VALUES ($1, $2, $3, $4)
       ON CONFLICT (code) DO NOTHING
       RETURNING ${COLUMNS}`,
      [row.id, row.code, row.name, row.webhookUrl],
    );
    return rows[0];
  }

  async findByCode(code: string): Promise<Institution | undefined> {
    const rows: Institution[] = await this.db.query(`SELECT ${COLUMNS} FROM institutions WHERE code = $1`, [code]);
    return rows[0];
  }

  /** The institution, locked until the transaction ends so that changes to its webhook queue here. */
  async lockForWebhookChange(executor: SqlExecutor, id: string): Promise<{ institution: Institution; hasSecret: boolean }> {
    const rows: Array<Institution & { hasSecret: boolean }> = await executor.query(
      `SELECT ${COLUMNS}, webhook_secret_ciphertext IS NOT NULL AS "hasSecret"
         FROM institutions WHERE id = $1 FOR UPDATE`,
      [id],
    );
    const { hasSecret, ...institution } = rows[0];
    return { institution, hasSecret };
  }

  /** Sets the webhook URL (enabled again if the receiver had disabled it); null removes it together with its signing secret. */
  async setWebhookUrl(executor: SqlExecutor, id: string, url: string | null): Promise<Institution> {
    const [rows] = await executor.query(
      `UPDATE institutions
          SET webhook_url = $2, webhook_disabled_at = NULL,
              webhook_secret_ciphertext = CASE WHEN $2::text IS NULL THEN NULL ELSE webhook_secret_ciphertext END,
              webhook_secret_master_key_id = CASE WHEN $2::text IS NULL THEN NULL ELSE webhook_secret_master_key_id END,
              webhook_previous_secret_ciphertext = CASE WHEN $2::text IS NULL THEN NULL ELSE webhook_previous_secret_ciphertext END,
              webhook_previous_secret_master_key_id = CASE WHEN $2::text IS NULL THEN NULL ELSE webhook_previous_secret_master_key_id END,
              webhook_previous_secret_until = CASE WHEN $2::text IS NULL THEN NULL ELSE webhook_previous_secret_until END
        WHERE id = $1
       RETURNING ${COLUMNS}`,
      [id, url],
    );
    return (rows as Institution[])[0];
  }

  async list(): Promise<Institution[]> {
    return this.db.query(`SELECT ${COLUMNS} FROM institutions ORDER BY code`);
  }
}
