import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a peer is trusted for: its inbound quota, and the key statement last believed.
 *
 * queries_per_minute: the peer's own quota on inbound queries (set by the operator with
 * POST /v1/peers); NULL = the configured default (PEER_QUERIES_PER_MINUTE), 0 = not
 * limited. The counters live in Redis (shared by every API process), not here.
 *
 * key_statement_iat: the iat (NumericDate seconds) of the peer's key statement last
 * believed on a refresh; a statement no newer is refused, so that an old statement
 * (of keys since retired) cannot be replayed to roll the peer's keys back. NULL: none
 * believed since the peer was (re-)registered.
 */
export class PeerTrust1764140000016 implements MigrationInterface {
  name = 'PeerTrust1764140000016';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE peers
        ADD COLUMN queries_per_minute integer CHECK (queries_per_minute BETWEEN 0 AND 10000000),
        ADD COLUMN key_statement_iat bigint CHECK (key_statement_iat >= 0)
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE peers DROP COLUMN key_statement_iat, DROP COLUMN queries_per_minute`);
  }
}
