import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { RateLimit } from './token-bucket.js';

/** The institutions' own rate limits (migration 0010); NULL = the configured defaults. */
@Injectable()
export class RateLimitsRepository {
  constructor(private readonly db: DataSource) {}

  async find(institutionId: string): Promise<RateLimit | null> {
    const rows: { perMinute: number | null; burst: number | null }[] = await this.db.query(
      `SELECT rate_limit_per_minute AS "perMinute", rate_limit_burst AS "burst" FROM institutions WHERE id = $1`,
      [institutionId],
    );
    const row = rows[0];
    return row && row.perMinute !== null && row.burst !== null ? { perMinute: row.perMinute, burst: row.burst } : null;
  }

  async set(executor: SqlExecutor, institutionId: string, limit: RateLimit | null): Promise<void> {
    await executor.query(`UPDATE institutions SET rate_limit_per_minute = $2, rate_limit_burst = $3 WHERE id = $1`, [
      institutionId,
      limit?.perMinute ?? null,
      limit?.burst ?? null,
    ]);
  }
}
