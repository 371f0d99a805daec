import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A report that a linkage's holder died keeps the evidence it was made on: the
 * documents (type and reference) of the inheritance inquiry made here, or those a peer
 * node's inheritance query carried with its claim of death (protocol version 2).
 * Together with deceased_reported_by_node, holder_reported_deceased_at and
 * holder_date_of_death, GET /v1/linkages/{id} shows who reported the death, when, on
 * what. Reports made before this migration have none (NULL).
 */
export class DeceasedReportEvidence1764140000017 implements MigrationInterface {
  name = 'DeceasedReportEvidence1764140000017';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE linkages
        ADD COLUMN deceased_evidence jsonb,
        ADD CONSTRAINT linkages_deceased_evidence CHECK (deceased_evidence IS NULL OR jsonb_typeof(deceased_evidence) = 'array')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE linkages
        DROP CONSTRAINT linkages_deceased_evidence,
        DROP COLUMN deceased_evidence`);
  }
}
