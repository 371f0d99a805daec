import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Answers that list nothing, one row per node and group commit instead of one per
 * inquiry and node.
 *
 * Almost every answer of a fan-out is empty: a number is held at a few of a thousand
 * institutions. A burst of 1,000 inquiries over 1,000 nodes wrote a million
 * inquiry_answers rows (heap, primary key, WAL) — two thirds of Postgres's CPU in the
 * benchmark — and making the inquiries final checked each of their million (inquiry,
 * node) pairs against that key. Now the answer of a node that listed nothing (for a
 * location query: no accounts; for a numbering notice: no institution) is one entry of
 * empty_answers.inquiry_ids: one row per node per group commit, holding every inquiry
 * it answered so, found by inquiry through a GIN index (and by node and time, for a retry).
 *
 * What a node answered for an inquiry, read by inquiry and node:
 *   - a row of inquiry_answers with status 'answered': its list (accounts found, or the
 *     numbering statuses);
 *   - else an entry of empty_answers: answered, nothing listed;
 *   - else a row with status 'unreachable': no answer by its last try, or by the end.
 * A node job that runs twice may repeat an entry (harmless: the readers take distinct
 * nodes); an answer beats an earlier "unreachable" (the node did answer).
 *
 * inquiry_ids is stored without compression (random uuids do not compress) and, up to
 * about 500 inquiries, inside the row (toast_tuple_target), so that reading an
 * inquiry's entries does not fetch a TOAST chunk per node. Nothing in it is personal:
 * inquiry ids and peer ids. Existing empty rows of inquiry_answers stay where they are
 * and are read as before.
 */
export class EmptyAnswers1764140000026 implements MigrationInterface {
  name = 'EmptyAnswers1764140000026';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE empty_answers (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        -- peers.id, or the nil uuid for the institutions this node hosts.
        node_id     uuid NOT NULL,
        inquiry_ids uuid[] NOT NULL CHECK (cardinality(inquiry_ids) > 0 AND array_ndims(inquiry_ids) = 1),
        answered_at timestamptz NOT NULL DEFAULT now()
      ) WITH (toast_tuple_target = 8160)`);
    await q.query(`ALTER TABLE empty_answers ALTER COLUMN inquiry_ids SET STORAGE EXTERNAL`);
    await q.query(`CREATE INDEX empty_answers_inquiries ON empty_answers USING gin (inquiry_ids)`);
    // A node job's retry asks again only the inquiries its node has not answered: that
    // node's entries since the inquiries started (the GIN index would read every node's).
    await q.query(`CREATE INDEX empty_answers_node ON empty_answers (node_id, answered_at)`);
    await q.query(`
      COMMENT ON TABLE empty_answers IS
        'Answers that listed nothing: node_id answered each of inquiry_ids with an empty list. See migration 26.'`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Back to one row per inquiry and node, so that the older readers see the same answers.
    await q.query(`
      INSERT INTO inquiry_answers (inquiry_id, node_id, status, answered_at)
      SELECT x.id, e.node_id, 'answered', min(e.answered_at)
        FROM empty_answers e CROSS JOIN LATERAL unnest(e.inquiry_ids) AS x(id)
       GROUP BY x.id, e.node_id
      ON CONFLICT (inquiry_id, node_id) DO UPDATE
         SET status = 'answered', failure = NULL, answered_at = excluded.answered_at
       WHERE inquiry_answers.status = 'unreachable'`);
    await q.query(`DROP TABLE empty_answers`);
  }
}
