import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Completion webhooks: each institution's signing secret (sealed under a master key),
 * an outbox of deliveries written in the same transaction as the event, and one row
 * per delivery attempt so that an institution can see what was sent and answered.
 */
export class Webhooks1764140000003 implements MigrationInterface {
  name = 'Webhooks1764140000003';

  async up(q: QueryRunner): Promise<void> {
    // version || iv || tag || AES-256-GCM(master key, secret), the institution id as AAD.
    await q.query(`
      ALTER TABLE institutions
        ADD COLUMN webhook_secret_ciphertext    bytea,
        ADD COLUMN webhook_secret_master_key_id text,
        ADD CONSTRAINT institutions_webhook_secret_key_id
          CHECK ((webhook_secret_ciphertext IS NULL) = (webhook_secret_master_key_id IS NULL)),
        ADD CONSTRAINT institutions_webhook_secret_needs_url
          CHECK (webhook_secret_ciphertext IS NULL OR webhook_url IS NOT NULL)`);

    await q.query(`
      CREATE TABLE webhook_deliveries (
        id               uuid PRIMARY KEY,
        institution_id   uuid NOT NULL REFERENCES institutions (id),
        event_type       text NOT NULL,
        -- The JSON body sent, {type, timestamp, data}: ids and statuses only.
        payload          jsonb NOT NULL,
        -- Where the latest attempt went (the institution's URL at that time).
        url              text NOT NULL,
        status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at  timestamptz,
        last_attempt_at  timestamptz,
        last_status_code smallint,
        -- Short and ours ("HTTP 500", "timeout"): never a response body.
        last_error       text CHECK (length(last_error) <= 200),
        created_at       timestamptz NOT NULL DEFAULT now(),
        delivered_at     timestamptz,
        CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
        CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
      )`);
    // The sweeper's look-up: pending deliveries whose next attempt is due.
    await q.query(`
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)
        WHERE status = 'pending'`);
    // An institution's recent deliveries, newest first.
    await q.query(`CREATE INDEX webhook_deliveries_institution ON webhook_deliveries (institution_id, created_at DESC, id DESC)`);

    await q.query(`
      CREATE TABLE webhook_delivery_attempts (
        delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id),
        attempt     integer NOT NULL CHECK (attempt >= 1),
        url         text NOT NULL,
        started_at  timestamptz NOT NULL,
        -- Null until the attempt ends (a worker that died mid-request leaves it so).
        duration_ms integer CHECK (duration_ms >= 0),
        status_code smallint,
        error       text CHECK (length(error) <= 200),
        PRIMARY KEY (delivery_id, attempt)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS webhook_delivery_attempts`);
    await q.query(`DROP TABLE IF EXISTS webhook_deliveries`);
    await q.query(`
      ALTER TABLE institutions
        DROP COLUMN IF EXISTS webhook_secret_ciphertext,
        DROP COLUMN IF EXISTS webhook_secret_master_key_id`);
  }
}
