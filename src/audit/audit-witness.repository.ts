import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditCheckpoint } from './audit-checkpoint.js';

export interface WitnessedCheckpoint {
  seq: string;
  head: string;
  checkpoint: string;
}

/** As a witness: the newest signed checkpoint of each peer node's audit chain. */
@Injectable()
export class AuditWitnessRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Keeps the checkpoint if it is newer (a higher seq) than the one held; returns what
   * is held afterwards, so that the caller can tell an older or conflicting one.
   */
  async keep(checkpoint: AuditCheckpoint, jws: string): Promise<{ kept: boolean; held: WitnessedCheckpoint }> {
    const kept: unknown[] = await this.db.query(
      `INSERT INTO audit_witness_checkpoints (node_id, seq, head, signed_at, checkpoint)
       VALUES ($1, $2, decode($3, 'base64'), $4, $5)
       ON CONFLICT (node_id) DO UPDATE
         SET seq = EXCLUDED.seq, head = EXCLUDED.head, signed_at = EXCLUDED.signed_at,
             checkpoint = EXCLUDED.checkpoint, received_at = now()
         WHERE audit_witness_checkpoints.seq < EXCLUDED.seq
       RETURNING 1`,
      [checkpoint.nodeId, checkpoint.seq, Buffer.from(checkpoint.head, 'base64url').toString('base64'), checkpoint.signedAt, jws],
    );
    return { kept: kept.length === 1, held: (await this.latest(checkpoint.nodeId))! };
  }

  async latest(nodeId: string): Promise<WitnessedCheckpoint | undefined> {
    const rows: Array<{ seq: string; head: Buffer; checkpoint: string }> = await this.db.query(
      `SELECT seq::text AS seq, head, checkpoint FROM audit_witness_checkpoints WHERE node_id = $1`,
      [nodeId],
    );
    return rows[0] && { seq: rows[0].seq, head: rows[0].head.toString('base64url'), checkpoint: rows[0].checkpoint };
  }
}
