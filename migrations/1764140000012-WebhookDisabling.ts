import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A webhook the receiver turned off: set when an attempt is answered `410 Gone` (the
 * Standard Webhooks way of saying "send no more"). While it is set nothing is recorded
 * for the institution and its pending deliveries fail unsent; setting the webhook URL
 * again (PUT /v1/institutions/{code}/webhook, the same URL included) clears it.
 */
export class WebhookDisabling1764140000012 implements MigrationInterface {
  name = 'WebhookDisabling1764140000012';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE institutions ADD COLUMN webhook_disabled_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE institutions DROP COLUMN webhook_disabled_at`);
  }
}
