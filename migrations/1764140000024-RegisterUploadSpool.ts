import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the register-import sweeper needs to tell an upload that is still spooling from
 * one that nothing will finish:
 * - `spooled_at`: set when the whole upload is in the spool, before its job is enqueued.
 *   An unfinished upload that is spooled but has no job (Redis lost it, or the API died
 *   between the spool and the enqueue) is enqueued again from the spool.
 * - `touched_at`: the last time the upload's request wrote to the spool. An upload that
 *   is not spooled, has no job and has not been touched for REGISTER_UPLOAD_IDLE_TIMEOUT_MS
 *   broke off (the API died mid-request): it ends as failed, so that it no longer refuses
 *   the institution's next upload.
 * Uploads from before this migration have no `spooled_at`: their spool may be partial, so
 * they are never enqueued again by the sweeper (a partial full import would close every
 * account it lacks); a job of theirs still in Redis runs as before.
 */
export class RegisterUploadSpool1764140000024 implements MigrationInterface {
  name = 'RegisterUploadSpool1764140000024';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE register_imports
        ADD COLUMN spooled_at timestamptz,
        ADD COLUMN touched_at timestamptz NOT NULL DEFAULT now()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE register_imports DROP COLUMN spooled_at, DROP COLUMN touched_at`);
  }
}
