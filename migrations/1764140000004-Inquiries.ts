import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Disaster declarations, location inquiries and their per-node answers, and the
 * deceased report on linkages (from an inheritance inquiry here, or a peer's query).
 *
 * An inquiry holds its subject's My Number only as ciphertext, and only until it is
 * final; its blind index stays, so that the depositor's access history can find it.
 * Answers are one row per inquiry and node (this node's hosted institutions are the
 * nil node): a fan-out job that runs twice finds its row already written.
 */
export class Inquiries1764140000004 implements MigrationInterface {
  name = 'Inquiries1764140000004';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE disaster_declarations (
        id                 uuid PRIMARY KEY,
        name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        -- JIS X 0402 codes without their check digit (5 digits).
        municipality_codes text[] NOT NULL CHECK (cardinality(municipality_codes) >= 1),
        starts_at          timestamptz NOT NULL,
        ends_at            timestamptz NOT NULL,
        created_at         timestamptz NOT NULL DEFAULT now(),
        CHECK (ends_at > starts_at)
      )`);
    await q.query(`CREATE INDEX disaster_declarations_municipalities ON disaster_declarations USING gin (municipality_codes)`);

    await q.query(`
      CREATE TABLE inquiries (
        id                     uuid PRIMARY KEY,
        institution_id         uuid NOT NULL REFERENCES institutions (id),
        kind                   text NOT NULL CHECK (kind IN ('inheritance', 'disaster')),
        -- 1 is served first: disaster inquiries go ahead of inheritance inquiries.
        priority               smallint NOT NULL CHECK (priority BETWEEN 1 AND 9),
        status                 text NOT NULL DEFAULT 'queued'
                               CHECK (status IN ('queued', 'running', 'completed', 'partial', 'rejected')),
        branch_code            text NOT NULL CHECK (branch_code ~ '^[0-9]{3}$'),
        operator_id            text NOT NULL,
        api_key_id             uuid,
        blind_index_version    smallint NOT NULL,
        blind_index            bytea NOT NULL CHECK (length(blind_index) = 32),
        -- Dropped when the inquiry is final: nothing asks for the number after that.
        my_number_ciphertext   bytea,
        data_key_id            uuid,
        name_kana              text NOT NULL,
        birth_date             date NOT NULL,
        date_of_death          date,
        municipality_code      text,
        applicant_relationship text NOT NULL,
        applicant_name         text NOT NULL,
        evidence               jsonb NOT NULL DEFAULT '[]',
        declaration_id         uuid REFERENCES disaster_declarations (id),
        -- The institutions asked, fixed when the inquiry is accepted.
        target_codes           text[] NOT NULL,
        -- No targets named: every known institution was asked (a fast path for the fan-out).
        targets_all            boolean NOT NULL,
        -- The fan-out now carrying the inquiry, and when it began (the reconciler looks
        -- for fan-outs that Redis has lost).
        fanout_id              uuid,
        fanout_started_at      timestamptz,
        rejection_reason       text,
        deadline_at            timestamptz NOT NULL,
        created_at             timestamptz NOT NULL DEFAULT now(),
        started_at             timestamptz,
        completed_at           timestamptz,
        results_purged_at      timestamptz,
        CHECK ((status IN ('completed', 'partial', 'rejected')) = (completed_at IS NOT NULL)),
        CHECK (kind <> 'inheritance' OR date_of_death IS NOT NULL),
        CHECK (kind <> 'disaster' OR (municipality_code IS NOT NULL AND declaration_id IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX inquiries_requester ON inquiries (institution_id, created_at DESC)`);
    await q.query(`CREATE INDEX inquiries_fanout ON inquiries (fanout_id) WHERE fanout_id IS NOT NULL`);
    // What the fan-out and the reconciler work through; small, since final rows leave it.
    await q.query(`
      CREATE INDEX inquiries_unfinished ON inquiries (priority, created_at)
        WHERE status IN ('queued', 'running')`);
    await q.query(`CREATE INDEX inquiries_subject ON inquiries (blind_index_version, blind_index)`);
    await q.query(`CREATE INDEX inquiries_final ON inquiries (completed_at) WHERE results_purged_at IS NULL`);

    await q.query(`
      CREATE TABLE inquiry_answers (
        inquiry_id  uuid NOT NULL REFERENCES inquiries (id),
        -- peers.id, or the nil uuid for the institutions this node hosts.
        node_id     uuid NOT NULL,
        status      text NOT NULL CHECK (status IN ('answered', 'unreachable')),
        -- [{code, accounts: [{branchCode, accountType, accountNumber}]}]: only institutions
        -- with accounts; emptied when the retention period ends.
        found       jsonb NOT NULL DEFAULT '[]',
        failure     text,
        answered_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (inquiry_id, node_id)
      )`);

    await q.query(`
      ALTER TABLE linkages
        ADD COLUMN holder_reported_deceased_at timestamptz,
        ADD COLUMN holder_date_of_death date,
        ADD COLUMN deceased_inquiry_id uuid,
        ADD COLUMN deceased_reported_by_node text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE linkages
        DROP COLUMN holder_reported_deceased_at,
        DROP COLUMN holder_date_of_death,
        DROP COLUMN deceased_inquiry_id,
        DROP COLUMN deceased_reported_by_node`);
    await q.query(`DROP TABLE inquiry_answers`);
    await q.query(`DROP TABLE inquiries`);
    await q.query(`DROP TABLE disaster_declarations`);
  }
}
