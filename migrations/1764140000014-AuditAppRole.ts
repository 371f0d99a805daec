import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail against an insider.
 *
 * 1. The service's own database role, `kouza_app`: migrations run as the schema's
 *    owner (MIGRATION_DATABASE_URL), the service connects as kouza_app (DATABASE_URL).
 *    kouza_app may read and append to the audit trail (audit_events, audit_chain) but
 *    not UPDATE, DELETE or TRUNCATE it, nor ALTER it or disable its triggers (only an
 *    owner can): the append-only triggers stop mistakes, the privileges stop the
 *    service's credentials. Every other table keeps what the service does with it
 *    today (SELECT, INSERT, UPDATE, DELETE; never TRUNCATE), and so will the tables
 *    that later migrations create (ALTER DEFAULT PRIVILEGES, for tables the migrating
 *    role creates in schema public): a later table that must be append-only revokes
 *    UPDATE and DELETE itself, as audit_events does here. schema_migrations is
 *    read-only to the service (it checks the schema is current).
 *
 *    The account register is the one exception to "the owner owns the schema": an
 *    import builds a new partition and swaps it in (CREATE TABLE, DETACH, DROP, ATTACH
 *    PARTITION: DDL that only the table's owner may run), so account_register and its
 *    partitions belong to kouza_app, which may create tables in schema public for it.
 *    None of that reaches the audit tables: they stay the owner's.
 *
 *    Roles are cluster-wide, and every e2e test file migrates a database of its own at
 *    the same time: creating the role tolerates another migration creating it first
 *    (duplicate_object, or unique_violation when both inserted at once).
 *    It is created with LOGIN and no password: enough under local trust
 *    authentication; elsewhere the DBA gives it a password (ALTER ROLE kouza_app
 *    PASSWORD …) or creates it beforehand as they see fit.
 *
 * 2. Links of the chain are now HMAC-SHA-256 under AUDIT_CHAIN_KEY (link_version 2).
 *    Links sealed before are plain SHA-256 (link_version 1) and stay so: the trail is
 *    never rewritten. The verifier checks each link by its version and refuses a
 *    version-1 link after a version-2 one (a rewritten tail re-hashed without the key).
 *
 * 3. audit_witness_checkpoints: as a witness for the peer nodes, the newest signed
 *    checkpoint of each node's audit chain (POST /v1/peer/audit-checkpoints).
 */
export class AuditAppRole1764140000014 implements MigrationInterface {
  name = 'AuditAppRole1764140000014';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kouza_app') THEN
          BEGIN
            CREATE ROLE kouza_app LOGIN;
          EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database's migration created it first
          END;
        END IF;
        -- ALTER ... OWNER TO kouza_app (below) needs a superuser or a member of kouza_app.
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           AND NOT pg_has_role(current_user, 'kouza_app', 'MEMBER') THEN
          EXECUTE format('GRANT kouza_app TO %I', current_user);
        END IF;
      END $$`);

    await q.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${await currentDatabase(q)} TO kouza_app`);
    await q.query(`GRANT USAGE, CREATE ON SCHEMA public TO kouza_app`);
    await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kouza_app`);
    await q.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kouza_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO kouza_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO kouza_app`);
    await q.query(`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain FROM kouza_app`);
    await q.query(`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM kouza_app`);

    // The register's DDL (see above): kouza_app owns the partitioned table and every partition.
    await q.query(`
      DO $$
      DECLARE part regclass;
      BEGIN
        ALTER TABLE account_register OWNER TO kouza_app;
        FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'account_register'::regclass LOOP
          EXECUTE format('ALTER TABLE %s OWNER TO kouza_app', part);
        END LOOP;
      END $$`);

    await q.query(`ALTER TABLE audit_chain ADD COLUMN link_version smallint NOT NULL DEFAULT 1 CHECK (link_version IN (1, 2))`);
    // Rows sealed before this migration are version 1; the sealer names the version of every new link.
    await q.query(`ALTER TABLE audit_chain ALTER COLUMN link_version DROP DEFAULT`);

    await q.query(`
      CREATE TABLE audit_witness_checkpoints (
        node_id     text PRIMARY KEY,
        seq         bigint NOT NULL CHECK (seq >= 1),
        head        bytea NOT NULL CHECK (length(head) = 32),
        signed_at   timestamptz NOT NULL,
        -- The node's own compact JWS: handed back as it came, so that the node checks its signature.
        checkpoint  text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
    // A checkpoint is replaced by a newer one only: no DELETE for the service.
    await q.query(`REVOKE DELETE, TRUNCATE ON audit_witness_checkpoints FROM kouza_app`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_witness_checkpoints`);
    await q.query(`ALTER TABLE audit_chain DROP COLUMN link_version`);
    await q.query(`
      DO $$
      DECLARE part regclass;
      BEGIN
        EXECUTE format('ALTER TABLE account_register OWNER TO %I', current_user);
        FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'account_register'::regclass LOOP
          EXECUTE format('ALTER TABLE %s OWNER TO %I', part, current_user);
        END LOOP;
      END $$`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM kouza_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM kouza_app`);
    await q.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM kouza_app`);
    await q.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM kouza_app`);
    await q.query(`REVOKE ALL ON SCHEMA public FROM kouza_app`);
    await q.query(`REVOKE ALL ON DATABASE ${await currentDatabase(q)} FROM kouza_app`);
    // The role itself stays: roles are cluster-wide, and other databases may use it.
  }
}

async function currentDatabase(q: QueryRunner): Promise<string> {
  const [{ name }] = await q.query(`SELECT quote_ident(current_database()) AS name`);
  return name;
}
