import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';

export interface Institution {
  id: string;
  code: string;
  name: string;
  webhookUrl: string | null;
  createdAt: Date;
}

const COLUMNS = `id, code, name, webhook_url AS "webhookUrl", created_at AS "createdAt"`;

@Injectable()
export class InstitutionsRepository {
  constructor(private readonly db: DataSource) {}

  /** Inserts unless the code is taken; undefined when it is. */
  async insert(executor: SqlExecutor, row: Omit<Institution, 'createdAt'>): Promise<Institution | undefined> {
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

  async list(): Promise<Institution[]> {
    return this.db.query(`SELECT ${COLUMNS} FROM institutions ORDER BY code`);
  }
}
