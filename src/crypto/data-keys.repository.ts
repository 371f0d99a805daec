import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface DataKeyRow {
  id: string;
  master_key_id: string;
  wrapped_key: Buffer;
}

@Injectable()
export class DataKeysRepository {
  constructor(private readonly db: DataSource) {}

  async findNewestActive(masterKeyId: string): Promise<DataKeyRow | undefined> {
    const rows: DataKeyRow[] = await this.db.query(
      `SELECT id, master_key_id, wrapped_key FROM data_keys
        WHERE master_key_id = $1 AND retired_at IS NULL
        ORDER BY created_at DESC LIMIT 1`,
      [masterKeyId],
    );
    return rows[0];
  }

  async findById(id: string): Promise<DataKeyRow | undefined> {
    const rows: DataKeyRow[] = await this.db.query(
      `SELECT id, master_key_id, wrapped_key FROM data_keys WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  /**
   * Inserts a data key unless another process already made one for this master key:
   * the advisory lock makes concurrent starts agree on one.
   */
  async insertIfNoneActive(row: DataKeyRow): Promise<DataKeyRow> {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('data_keys:' || $1))`, [row.master_key_id]);
      const existing: DataKeyRow[] = await tx.query(
        `SELECT id, master_key_id, wrapped_key FROM data_keys
          WHERE master_key_id = $1 AND retired_at IS NULL
          ORDER BY created_at DESC LIMIT 1`,
        [row.master_key_id],
      );
      if (existing[0]) return existing[0];
      await tx.query(`INSERT INTO data_keys (id, master_key_id, wrapped_key) VALUES ($1, $2, $3)`, [
        row.id,
        row.master_key_id,
        row.wrapped_key,
      ]);
      return row;
    });
  }
}
