import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Key rotation jobs: re-indexing under a new blind-index key, re-wrapping under a new
 * master key. The row is the job's state; the BullMQ job carries only its id.
 *
 * A rotation works through its tables in phases, in batches ordered by id: each batch
 * commits its rows together with `cursor` (the last id done) and `done`, so that a
 * worker that dies resumes after the last committed batch. `target` is the key the
 * rotation moves rows to (a blind-index version, or a master key id), fixed when it is
 * started: a worker that does not hold it refuses to run it. Counts, ids and key ids
 * only: nothing here is personal data.
 */
export class KeyRotations1764140000008 implements MigrationInterface {
  name = 'KeyRotations1764140000008';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE key_rotations (
        id          uuid PRIMARY KEY,
        kind        text NOT NULL CHECK (kind IN ('blind-index', 'master-key')),
        target      text NOT NULL CHECK (length(target) BETWEEN 1 AND 64),
        status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
        source      text NOT NULL CHECK (source IN ('api', 'cli')),
        -- Rows to move, counted when the rotation starts (rows written later are under the target already).
        total       bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
        done        bigint NOT NULL DEFAULT 0 CHECK (done >= 0),
        -- Blind index: subjects re-indexed, inquiries re-indexed (from a subject's mapping or
        -- from their own ciphertext). Master key: data keys and webhook secrets re-wrapped.
        moved       jsonb NOT NULL DEFAULT '{}',
        -- Rows that stay under an old key when the rotation completes (see the README: key management).
        remaining   jsonb NOT NULL DEFAULT '{}',
        phase       text,
        cursor      text,
        -- How many times a worker took it up (more than one: it resumed after a crash or a retry).
        runs        integer NOT NULL DEFAULT 0,
        error       text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        started_at  timestamptz,
        finished_at timestamptz,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        CHECK ((status IN ('completed', 'failed')) = (finished_at IS NOT NULL))
      )`);
    // One unfinished rotation per kind: two re-indexings at once would fight over the rows.
    await q.query(`
      CREATE UNIQUE INDEX key_rotations_one_unfinished ON key_rotations (kind)
        WHERE status IN ('queued', 'running')`);
    await q.query(`CREATE INDEX key_rotations_created ON key_rotations (created_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE key_rotations`);
  }
}
