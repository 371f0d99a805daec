import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Numbering requests (他行付番) ride the location inquiries' fan-out: a request is a
 * row of `inquiries` with kind `numbering`, so that admission, the BullMQ flow,
 * answers keyed (inquiry, node), deadlines, the reconciler, webhooks and retention
 * apply to it unchanged. What only a numbering request carries gets its own columns;
 * what only a location inquiry carries (the applicant) becomes nullable, required per
 * kind by CHECKs.
 *
 * The address is personal data that nothing needs once the request is final: it is
 * dropped then, with the number's ciphertext (FanoutRepository.finalize).
 */
export class NumberingRequests1764140000007 implements MigrationInterface {
  name = 'NumberingRequests1764140000007';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE inquiries
        DROP CONSTRAINT inquiries_kind_check,
        ADD CONSTRAINT inquiries_kind_check CHECK (kind IN ('inheritance', 'disaster', 'numbering')),
        ALTER COLUMN applicant_relationship DROP NOT NULL,
        ALTER COLUMN applicant_name DROP NOT NULL,
        -- Numbering: the depositor's address as given at the branch (1-200 characters), and
        -- the postal code if given; both compared by the targets' matching.
        ADD COLUMN address text CHECK (length(address) BETWEEN 1 AND 200),
        ADD COLUMN postal_code text CHECK (postal_code ~ '^[0-9]{7}$'),
        -- The verification done at the requesting branch, as for a teller's linkage.
        ADD COLUMN number_document text,
        ADD COLUMN identity_document text,
        ADD COLUMN consent_at timestamptz,
        ADD CONSTRAINT inquiries_location_applicant CHECK (
          kind NOT IN ('inheritance', 'disaster')
          OR (applicant_relationship IS NOT NULL AND applicant_name IS NOT NULL)),
        ADD CONSTRAINT inquiries_numbering_fields CHECK (
          kind <> 'numbering'
          OR (number_document IS NOT NULL AND identity_document IS NOT NULL AND consent_at IS NOT NULL
              AND (address IS NOT NULL OR completed_at IS NOT NULL))),
        ADD CONSTRAINT inquiries_numbering_only CHECK (
          kind = 'numbering'
          OR (address IS NULL AND postal_code IS NULL AND number_document IS NULL
              AND identity_document IS NULL AND consent_at IS NULL))`);
    await q.query(`
      COMMENT ON COLUMN inquiry_answers.found IS
        'inheritance/disaster: [{code, accounts: [...]}], only institutions with accounts. '
        'numbering: [{code, status: attached|no-match|ambiguous, accounts?: n, reason?}], every institution asked of the node.'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM inquiry_answers WHERE inquiry_id IN (SELECT id FROM inquiries WHERE kind = 'numbering')`);
    await q.query(`DELETE FROM inquiries WHERE kind = 'numbering'`);
    await q.query(`COMMENT ON COLUMN inquiry_answers.found IS NULL`);
    await q.query(`
      ALTER TABLE inquiries
        DROP CONSTRAINT inquiries_numbering_only,
        DROP CONSTRAINT inquiries_numbering_fields,
        DROP CONSTRAINT inquiries_location_applicant,
        DROP COLUMN consent_at,
        DROP COLUMN identity_document,
        DROP COLUMN number_document,
        DROP COLUMN postal_code,
        DROP COLUMN address,
        ALTER COLUMN applicant_name SET NOT NULL,
        ALTER COLUMN applicant_relationship SET NOT NULL,
        DROP CONSTRAINT inquiries_kind_check,
        ADD CONSTRAINT inquiries_kind_check CHECK (kind IN ('inheritance', 'disaster'))`);
  }
}
