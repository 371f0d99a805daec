import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An institution's own rate limit, set by the operator (PUT /v1/institutions/{code}/rate-limit).
 * Both NULL: the configured defaults (RATE_LIMIT_PER_MINUTE, RATE_LIMIT_BURST) apply.
 * The counters themselves live in Redis (shared by every API process), not here.
 */
export class RateLimits1764140000010 implements MigrationInterface {
  name = 'RateLimits1764140000010';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE institutions
        -- Requests per minute per API key of the institution; 0 = not limited.
        ADD COLUMN rate_limit_per_minute integer CHECK (rate_limit_per_minute BETWEEN 0 AND 1000000),
        -- Requests a key may send at once above the steady rate (the token bucket's size).
        ADD COLUMN rate_limit_burst integer CHECK (rate_limit_burst BETWEEN 1 AND 1000000),
        -- Set together or not at all.
        ADD CONSTRAINT institutions_rate_limit_pair CHECK ((rate_limit_per_minute IS NULL) = (rate_limit_burst IS NULL))
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE institutions
        DROP CONSTRAINT institutions_rate_limit_pair,
        DROP COLUMN rate_limit_burst,
        DROP COLUMN rate_limit_per_minute
    `);
  }
}
