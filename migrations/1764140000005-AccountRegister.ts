import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The account register: per hosted institution, the name-matching data of every
 * deposit account (the data institutions keep for deposit-insurance name
 * aggregation), loaded from the core banking system's files. Attachments are checked
 * against it, and numbering requests from other institutions match depositors in it.
 *
 * The register holds no My Number. `name_key` and `address_key` are the forms that
 * matching compares (src/register/register-keys.ts); they are computed by the
 * importer, so that a match is one index probe.
 */
export class AccountRegister1764140000005 implements MigrationInterface {
  name = 'AccountRegister1764140000005';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE account_register (
        institution_id  uuid NOT NULL,
        branch_code     text NOT NULL,
        account_type    text NOT NULL CHECK (account_type IN ('ordinary', 'current', 'savings', 'other')),
        account_number  text NOT NULL,
        -- The core system's customer (CIF) number: accounts of one customer share it.
        customer_number text NOT NULL,
        -- Zengin half-width, as normalizeKanaName returns it.
        name_kana       text NOT NULL,
        name_key        text NOT NULL,
        birth_date      date NOT NULL,
        postal_code     text,
        address         text NOT NULL,
        address_key     text NOT NULL,
        status          text NOT NULL CHECK (status IN ('open', 'closed')),
        closed_at       timestamptz,
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (institution_id, branch_code, account_type, account_number)
      )`);
    // Matching a depositor: name and birth date narrow to a handful of rows.
    await q.query(`CREATE INDEX account_register_holder ON account_register (institution_id, name_key, birth_date)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE account_register`);
  }
}
