import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A rotated webhook signing secret keeps signing for a while next to the new one
 * (WEBHOOK_SECRET_OVERLAP_SECONDS): every attempt until `webhook_previous_secret_until`
 * carries both signatures in `webhook-signature` (Standard Webhooks allows several), so
 * a receiver can switch to the new secret at its own pace without rejecting deliveries.
 * Sealed like the current secret, under a master key, bound to the institution.
 */
export class WebhookSecretOverlap1764140000013 implements MigrationInterface {
  name = 'WebhookSecretOverlap1764140000013';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE institutions
        ADD COLUMN webhook_previous_secret_ciphertext    bytea,
        ADD COLUMN webhook_previous_secret_master_key_id text,
        ADD COLUMN webhook_previous_secret_until         timestamptz,
        -- All three or none.
        ADD CONSTRAINT institutions_webhook_previous_secret CHECK (
          (webhook_previous_secret_ciphertext IS NULL) = (webhook_previous_secret_master_key_id IS NULL)
          AND (webhook_previous_secret_ciphertext IS NULL) = (webhook_previous_secret_until IS NULL))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE institutions
        DROP CONSTRAINT institutions_webhook_previous_secret,
        DROP COLUMN webhook_previous_secret_until,
        DROP COLUMN webhook_previous_secret_master_key_id,
        DROP COLUMN webhook_previous_secret_ciphertext`);
  }
}
