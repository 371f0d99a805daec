import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * At most one register upload per institution is queued or running: a second one is
 * refused (409 REGISTER_IMPORT_IN_PROGRESS) by this index, also between concurrent
 * requests, before any of its bytes is spooled. With one spooling upload per institution,
 * REGISTER_SPOOL_MAX_BYTES_PER_INSTITUTION can be counted by that upload alone.
 * CLI imports are not counted: they are an operator's tool on the server, spool nothing,
 * already run one after the other (an advisory lock), and one killed with SIGKILL
 * leaves its row `running`, which would then refuse the institution's uploads for good.
 */
export class RegisterOneActiveUpload1764140000019 implements MigrationInterface {
  name = 'RegisterOneActiveUpload1764140000019';

  async up(q: QueryRunner): Promise<void> {
    // An institution that already has two unfinished uploads (before this migration)
    // keeps its newest; the older ones end as failed (their spool goes with them).
    await q.query(`
      UPDATE register_imports r
         SET status = 'failed', refusal = 'superseded by a newer upload; nothing was written', completed_at = now()
       WHERE r.source = 'upload' AND r.status IN ('queued', 'running')
         AND EXISTS (SELECT 1 FROM register_imports n
                      WHERE n.institution_id = r.institution_id AND n.source = 'upload' AND n.status IN ('queued', 'running')
                        AND (n.created_at, n.id) > (r.created_at, r.id))`);
    await q.query(`
      DELETE FROM register_import_chunks c USING register_imports r
       WHERE c.import_id = r.id AND r.status IN ('completed', 'failed', 'refused')`);
    await q.query(`
      CREATE UNIQUE INDEX register_imports_one_active_upload ON register_imports (institution_id)
        WHERE source = 'upload' AND status IN ('queued', 'running')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX register_imports_one_active_upload`);
  }
}
