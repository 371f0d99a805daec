import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Institutions and their API keys, encrypted subjects, linkages, idempotency records,
 * and the append-only audit trail with its hash chain.
 *
 * The My Number is never a column: subjects hold AES-256-GCM ciphertext (with the id
 * of the data key that encrypted it) and a keyed blind index with its key version.
 */
export class InitialSchema1764140000000 implements MigrationInterface {
  name = 'InitialSchema1764140000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE institutions (
        id          uuid PRIMARY KEY,
        code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{4}$'),
        name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        webhook_url text,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE api_keys (
        id             uuid PRIMARY KEY,
        institution_id uuid NOT NULL REFERENCES institutions (id),
        name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        -- SHA-256 of the whole key: keys are 256-bit random, so a fast hash is enough.
        key_hash       bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
        key_prefix     text NOT NULL,
        scopes         text[] NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        revoked_at     timestamptz
      )`);
    await q.query(`CREATE INDEX api_keys_institution ON api_keys (institution_id, created_at)`);

    await q.query(`
      CREATE TABLE data_keys (
        id            uuid PRIMARY KEY,
        master_key_id text NOT NULL,
        -- version byte || iv (12) || tag (16) || AES-256-GCM(master key, data key)
        wrapped_key   bytea NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        retired_at    timestamptz
      )`);

    await q.query(`
      CREATE TABLE subjects (
        id                   uuid PRIMARY KEY,
        institution_id       uuid NOT NULL,
        blind_index_version  smallint NOT NULL,
        blind_index          bytea NOT NULL CHECK (length(blind_index) = 32),
        my_number_ciphertext bytea NOT NULL,
        data_key_id          uuid NOT NULL,
        name_kana            text NOT NULL,
        birth_date           date NOT NULL,
        created_at           timestamptz NOT NULL DEFAULT now(),
        updated_at           timestamptz NOT NULL DEFAULT now()
      )`);
    // One record per number and institution; led by the blind index so that the same
    // index serves location inquiries across every hosted institution at once.
    await q.query(`
      CREATE UNIQUE INDEX subjects_blind_index
        ON subjects (blind_index_version, blind_index, institution_id)`);

    await q.query(`
      CREATE TABLE attachments (
        id                uuid PRIMARY KEY,
        institution_id    uuid NOT NULL,
        subject_id        uuid NOT NULL,
        branch_code       text NOT NULL,
        operator_id       text NOT NULL,
        api_key_id        uuid,
        number_document   text NOT NULL,
        identity_document text NOT NULL,
        consent_at        timestamptz NOT NULL,
        created_at        timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX attachments_subject ON attachments (subject_id)`);

    await q.query(`
      CREATE TABLE linkages (
        id                  uuid PRIMARY KEY,
        institution_id      uuid NOT NULL,
        subject_id          uuid NOT NULL,
        attachment_id       uuid NOT NULL,
        branch_code         text NOT NULL CHECK (branch_code ~ '^[0-9]{3}$'),
        account_type        text NOT NULL CHECK (account_type IN ('ordinary', 'current', 'savings', 'other')),
        account_number      text NOT NULL CHECK (account_number ~ '^[0-9]{7}$'),
        status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
        created_at          timestamptz NOT NULL DEFAULT now(),
        revoked_at          timestamptz,
        revocation_reason   text,
        revocation_note     text,
        revoked_by_operator text,
        revoked_at_branch   text,
        CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
      )`);
    // One active linkage per account; revoked rows stay as history.
    await q.query(`
      CREATE UNIQUE INDEX linkages_active_account
        ON linkages (institution_id, branch_code, account_type, account_number)
        WHERE status = 'active'`);
    await q.query(`CREATE INDEX linkages_account ON linkages (institution_id, branch_code, account_type, account_number, created_at)`);
    await q.query(`CREATE INDEX linkages_subject ON linkages (subject_id)`);

    await q.query(`
      CREATE TABLE idempotency_keys (
        institution_id      uuid NOT NULL REFERENCES institutions (id),
        idempotency_key     text NOT NULL,
        -- HMAC of the request, never the request: a body holds a My Number.
        request_fingerprint bytea NOT NULL,
        response_status     smallint,
        response_body       jsonb,
        created_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (institution_id, idempotency_key)
      )`);
    await q.query(`CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)`);

    await q.query(`
      CREATE TABLE audit_events (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        occurred_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
        institution_id uuid,
        actor_type     text NOT NULL CHECK (actor_type IN ('institution', 'operator', 'system', 'peer')),
        api_key_id     uuid,
        branch_code    text,
        operator_id    text,
        action         text NOT NULL,
        resource_type  text,
        resource_id    uuid,
        subject_id     uuid,
        request_id     text,
        details        jsonb NOT NULL DEFAULT '{}'
      )`);
    await q.query(`CREATE INDEX audit_events_subject ON audit_events (subject_id, id) WHERE subject_id IS NOT NULL`);

    // Written only by the sealer: one link per event, in sealing order.
    await q.query(`
      CREATE TABLE audit_chain (
        seq       bigint PRIMARY KEY CHECK (seq >= 1),
        event_id  bigint NOT NULL UNIQUE,
        prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
        hash      bytea NOT NULL CHECK (length(hash) = 32),
        sealed_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE FUNCTION refuse_audit_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    // subjects, attachments and linkages carry no foreign keys: the referential checks
    // cost a third of the attachment's database time, and one function (kouza_attach)
    // writes them from rows it has just read or written in the same transaction.
    // What the keys would protect, orphaned rows, cannot arise because the parents
    // are never deleted: the database refuses it.
    await q.query(`
      CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% rows are never deleted (% refused)', TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    for (const table of ['institutions', 'data_keys', 'subjects', 'attachments', 'linkages']) {
      await q.query(`
        CREATE TRIGGER ${table}_no_delete BEFORE DELETE OR TRUNCATE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete()`);
    }

    // Statement-level, so that even a statement touching no row is refused.
    for (const table of ['audit_events', 'audit_chain']) {
      await q.query(`
        CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_mutation()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'audit_chain',
      'audit_events',
      'idempotency_keys',
      'linkages',
      'attachments',
      'subjects',
      'data_keys',
      'api_keys',
      'institutions',
    ]) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
    await q.query(`DROP FUNCTION IF EXISTS refuse_audit_mutation()`);
    await q.query(`DROP FUNCTION IF EXISTS refuse_delete()`);
  }
}
