import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Peer nodes (other deployments), the institutions behind them, and the ids of the
 * node-to-node messages already received (replay protection, kept until they expire).
 *
 * An institution code names one institution across the whole network: a code is
 * either hosted here or behind one peer, never both. Two tables cannot share a unique
 * index, so a trigger on each checks the other under a per-code advisory lock (taken
 * by both, so that two concurrent registrations of one code are serialised and the
 * second sees the first) and raises KH002 with `INSTITUTION_EXISTS`.
 */
export class Peers1764140000002 implements MigrationInterface {
  name = 'Peers1764140000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE peers (
        id             uuid PRIMARY KEY,
        node_id        text NOT NULL UNIQUE CHECK (node_id ~ '^[A-Za-z0-9._-]{1,64}$'),
        endpoint_url   text NOT NULL,
        -- Public JWKs only ({kty, crv, x}); the API refuses a "d".
        signing_key    jsonb NOT NULL CHECK (NOT signing_key ? 'd'),
        encryption_key jsonb NOT NULL CHECK (NOT encryption_key ? 'd'),
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        disabled_at    timestamptz
      )`);

    await q.query(`
      CREATE TABLE peer_institutions (
        code    text PRIMARY KEY CHECK (code ~ '^[0-9]{4}$'),
        name    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        peer_id uuid NOT NULL REFERENCES peers (id)
      )`);
    await q.query(`CREATE INDEX peer_institutions_peer ON peer_institutions (peer_id)`);

    // Never a My Number: the API refuses a jti holding a run of 12 digits.
    await q.query(`
      CREATE TABLE peer_message_ids (
        issuer     text NOT NULL,
        jti        text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (issuer, jti)
      )`);
    await q.query(`CREATE INDEX peer_message_ids_expires ON peer_message_ids (expires_at)`);

    await q.query(`
      CREATE FUNCTION refuse_institution_code_taken() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('kouza-hub institution code ' || NEW.code));
        IF (TG_TABLE_NAME = 'institutions' AND EXISTS (SELECT 1 FROM peer_institutions WHERE code = NEW.code))
           OR (TG_TABLE_NAME = 'peer_institutions' AND EXISTS (SELECT 1 FROM institutions WHERE code = NEW.code)) THEN
          RAISE EXCEPTION 'INSTITUTION_EXISTS' USING ERRCODE = 'KH002', DETAIL = NEW.code;
        END IF;
        RETURN NEW;
      END
      $$`);
    for (const table of ['institutions', 'peer_institutions']) {
      await q.query(`
        CREATE TRIGGER ${table}_code_unique_across_nodes BEFORE INSERT OR UPDATE OF code ON ${table}
          FOR EACH ROW EXECUTE FUNCTION refuse_institution_code_taken()`);
    }
    // Peers are disabled, never deleted: audit rows and inquiry results refer to them.
    await q.query(`
      CREATE TRIGGER peers_no_delete BEFORE DELETE OR TRUNCATE ON peers
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS institutions_code_unique_across_nodes ON institutions`);
    for (const table of ['peer_message_ids', 'peer_institutions', 'peers']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
    await q.query(`DROP FUNCTION IF EXISTS refuse_institution_code_taken()`);
  }
}
