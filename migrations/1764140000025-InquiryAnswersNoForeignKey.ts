import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * inquiry_answers loses its foreign key to inquiries. An inquiry over 1,000 nodes writes
 * 1,000 answer rows, a burst of them a million: each row's key check was a trigger that
 * looked up the inquiry and took a KEY SHARE lock on its row, so that every answer of an
 * inquiry queued on one row lock (a multixact) while the group commit wrote them. The one
 * statement that writes answers (FanoutRepository.writeAnswers) already joins the inquiry,
 * and only while it is running; and inquiries are never deleted (their results are purged
 * in place): from here the database refuses it, as for subjects and linkages, so that no
 * answer can come to name an inquiry that does not exist. The same rule as the other hot
 * tables: integrity kept by the statements and a statement-level guard, no per-row trigger.
 */
export class InquiryAnswersNoForeignKey1764140000025 implements MigrationInterface {
  name = 'InquiryAnswersNoForeignKey1764140000025';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TRIGGER inquiries_no_delete BEFORE DELETE OR TRUNCATE ON inquiries
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete()`);
    await q.query(`ALTER TABLE inquiry_answers DROP CONSTRAINT inquiry_answers_inquiry_id_fkey`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER inquiries_no_delete ON inquiries`);
    await q.query(`ALTER TABLE inquiry_answers ADD CONSTRAINT inquiry_answers_inquiry_id_fkey FOREIGN KEY (inquiry_id) REFERENCES inquiries (id)`);
  }
}
