import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The depositor's access history, and peers' previous signing keys.
 *
 * Access history: a subject's audit rows are found by subject id (audit_events_subject)
 * and, for inquiries and numbering requests (whose rows carry the request as their
 * resource), by resource id: this index serves the second look-up, newest first.
 * Existing rows are not touched (the trail is append-only); only an index is added.
 *
 * Peer keys: a peer that rotates its keys publishes the new ones at GET /v1/node and
 * keeps signing-key validity for the old one until a `notAfter`. What we learned of
 * those old keys is kept here, so that a message signed with one is accepted until
 * then (and refused after). The current keys stay in signing_key / encryption_key.
 */
export class AccessHistoryAndPeerKeys1764140000009 implements MigrationInterface {
  name = 'AccessHistoryAndPeerKeys1764140000009';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX audit_events_resource ON audit_events (resource_id, id) WHERE resource_id IS NOT NULL`);
    await q.query(`
      ALTER TABLE peers
        -- [{jwk: {kty, crv, x, kid?}, notAfter: ISO 8601}]: public JWKs only.
        ADD COLUMN previous_signing_keys jsonb NOT NULL DEFAULT '[]'
          CHECK (jsonb_typeof(previous_signing_keys) = 'array'
                 AND NOT jsonb_path_exists(previous_signing_keys, '$[*].jwk.d')),
        -- When the peer's keys were last fetched from its GET /v1/node.
        ADD COLUMN keys_refreshed_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE peers DROP COLUMN keys_refreshed_at, DROP COLUMN previous_signing_keys`);
    await q.query(`DROP INDEX audit_events_resource`);
  }
}
