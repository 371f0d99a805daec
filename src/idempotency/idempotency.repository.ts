import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

@Injectable()
export class IdempotencyRepository {
  constructor(private readonly db: DataSource) {}

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
