import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

const PURGE_BATCH = 5000;

/** The ids of node-to-node messages already received, kept until the messages expire. */
@Injectable()
export class PeerMessageIdsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Records a message id; false when it was recorded before (a replay). The primary
   * key decides, so two concurrent deliveries of one message cannot both pass.
   */
  async claim(issuer: string, jti: string, expiresAt: Date): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `INSERT INTO peer_message_ids (issuer, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (issuer, jti) DO NOTHING RETURNING 1`,
      [issuer, jti, expiresAt],
    );
    return rows.length === 1;
  }

  /**
   * Deletes the ids of expired messages (which checkClaims refuses anyway), in batches
   * so that no statement holds locks for long; returns how many went.
   */
  async purgeExpiredMessageIds(): Promise<number> {
    let purged = 0;
    for (;;) {
      const [, count]: [unknown, number] = await this.db.query(
        `DELETE FROM peer_message_ids WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM peer_message_ids WHERE expires_at < now() LIMIT $1))`,
        [PURGE_BATCH],
      );
      purged += count;
      if (count < PURGE_BATCH) return purged;
    }
  }
}
