import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { returnedRows } from '../../database/sql-executor.js';
import type { SqlExecutor } from '../../database/sql-executor.js';
import { KNOWN_INSTITUTIONS } from '../inquiries.repository.js';
import type { FanoutKind, InquiryStatus, InstitutionFinding } from '../inquiry.types.js';
import type { NumberedInstitution } from '../../peers/peer-messages.js';

export interface ClaimedInquiry {
  id: string;
  kind: FanoutKind;
  /** Claimed before by a fan-out that was lost: some nodes may have answered already. */
  resumed: boolean;
}

/** What a fan-out job needs of an inquiry; the number is still ciphertext here. */
export interface FanoutInquiryRow {
  id: string;
  kind: FanoutKind;
  institutionId: string;
  /** The requesting institution's code (a numbering request's origin). */
  institutionCode: string;
  apiKeyId: string | null;
  branchCode: string;
  operatorId: string;
  ciphertext: Buffer;
  dataKeyId: string;
  /** The blind-index version of the row (its ciphertext is bound to it). */
  blindIndexVersion: number;
  dateOfDeath: string | null;
  /** The subject as the requester named them (canonical kana name), which hosted and peer answers must match. */
  nameKana: string;
  /** YYYY-MM-DD */
  birthDate: string;
  /** Inheritance: the documents evidencing the death, sent with a peer query's claim of death. */
  evidence: { type: string; reference: string }[];
  targetsAll: boolean;
  /** Null when targetsAll. */
  targetCodes: string[] | null;
  /** Numbering requests only (null otherwise): what the targets match and record. */
  numbering: NumberingFields | null;
}

export interface NumberingFields {
  nameKana: string;
  birthDate: string;
  address: string;
  numberDocument: string;
  identityDocument: string;
  consentAt: string;
}

export interface AnswerRow {
  inquiryId: string;
  nodeId: string;
  status: 'answered' | 'unreachable';
  /** Location: institutions where accounts were found. Numbering: every institution asked of the node. */
  found?: InstitutionFinding[] | NumberedInstitution[];
  failure?: string;
}

export interface FinalizedInquiry {
  id: string;
  institutionId: string;
  kind: FanoutKind;
  status: InquiryStatus;
  /** From created_at to completed_at, for the duration histogram. */
  durationSeconds: number;
}

const ADMISSION_LOCK = String(0x6b6f757a61_01n);

/** The fan-out's SQL: claims, answers written once per inquiry and node, completion. */
@Injectable()
export class FanoutRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Serialises admission across workers, so that inquiries queued together leave together.
   * False when another admission holds it: the caller looks again shortly instead of
   * waiting (admission jobs waiting in line for the lock filled the queue's slots that the
   * fan-outs' hosted and finishing jobs need, and held up whole fan-outs in a burst).
   */
  async tryLockAdmission(executor: SqlExecutor): Promise<boolean> {
    const rows: { locked: boolean }[] = await executor.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, [ADMISSION_LOCK]);
    return rows[0].locked;
  }

  /**
   * Moves up to `limit` queued inquiries of one kind (the most urgent waiting) into
   * a new fan-out. SKIP LOCKED lets several workers admit at once.
   *
   * While other fan-outs are in flight (`inFlight`), a batch smaller than `limit` stays
   * queued so that it fills up, unless its kind is more urgent than every fan-out in
   * flight, or its oldest inquiry has waited `maxWaitMs`. A lone inquiry leaves at once;
   * under load, inquiries leave in full batches.
   */
  async claim(
    executor: SqlExecutor,
    fanoutId: string,
    limit: number,
    inFlight?: { mostUrgent: number; maxWaitMs: number },
  ): Promise<ClaimedInquiry[]> {
    const result = await executor.query(
      `WITH next_kind AS (
         SELECT kind, priority FROM inquiries WHERE status = 'queued' ORDER BY priority, created_at LIMIT 1
       ), picked AS (
         SELECT id, created_at, started_at IS NOT NULL AS resumed FROM inquiries
          WHERE status = 'queued' AND kind = (SELECT kind FROM next_kind) AND deadline_at > now()
          ORDER BY priority, created_at
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       ), leaves AS (
         SELECT $3::int IS NULL
             OR (SELECT priority FROM next_kind) < $3
             OR (SELECT count(*) FROM picked) >= $2
             OR (SELECT min(created_at) FROM picked) <= clock_timestamp() - make_interval(secs => $4::float8 / 1000)
             AS go
       )
       -- clock_timestamp(), not now(): now() is when the transaction began, before it waited
       -- for the admission lock, so a claim that waited would look older than the one it
       -- waited for (and a later kind would seem to have started first).
       UPDATE inquiries i
          SET status = 'running', fanout_id = $1, fanout_started_at = clock_timestamp(),
              started_at = coalesce(i.started_at, clock_timestamp())
         FROM picked WHERE i.id = picked.id AND (SELECT go FROM leaves)
       RETURNING i.id, i.kind, picked.resumed`,
      [fanoutId, limit, inFlight?.mostUrgent ?? null, inFlight?.maxWaitMs ?? 0],
    );
    return returnedRows(result);
  }

  /** Whether any inquiry is queued (admission held one back). */
  async anyQueued(executor: SqlExecutor): Promise<boolean> {
    const rows: { queued: boolean }[] = await executor.query(
      `SELECT EXISTS (SELECT 1 FROM inquiries WHERE status = 'queued' AND deadline_at > now()) AS queued`,
    );
    return rows[0].queued;
  }

  /** The nodes (this node's hosted institutions being the nil node) a fan-out must ask. */
  async nodes(executor: SqlExecutor, fanoutId: string): Promise<string[]> {
    const rows: { node_id: string }[] = await executor.query(
      `SELECT DISTINCT k.node_id FROM (${KNOWN_INSTITUTIONS}) k
        WHERE EXISTS (SELECT 1 FROM inquiries i
                       WHERE i.fanout_id = $1 AND i.status = 'running'
                         AND (i.targets_all OR k.code = ANY (i.target_codes)))`,
      [fanoutId],
    );
    return rows.map((r) => r.node_id);
  }

  async hostedCodes(): Promise<string[]> {
    const rows: { code: string }[] = await this.db.query(`SELECT code FROM institutions`);
    return rows.map((r) => r.code);
  }

  inquiries(fanoutId: string): Promise<FanoutInquiryRow[]> {
    return this.db.query(
      `SELECT i.id, i.kind, i.institution_id AS "institutionId", inst.code AS "institutionCode", i.api_key_id AS "apiKeyId",
              i.branch_code AS "branchCode", i.operator_id AS "operatorId", i.my_number_ciphertext AS ciphertext,
              i.data_key_id AS "dataKeyId", i.blind_index_version AS "blindIndexVersion",
              to_char(i.date_of_death, 'YYYY-MM-DD') AS "dateOfDeath",
              i.name_kana AS "nameKana", to_char(i.birth_date, 'YYYY-MM-DD') AS "birthDate", i.evidence,
              i.targets_all AS "targetsAll", CASE WHEN i.targets_all THEN NULL ELSE i.target_codes END AS "targetCodes",
              CASE WHEN i.kind = 'numbering' THEN jsonb_build_object(
                'nameKana', i.name_kana, 'birthDate', to_char(i.birth_date, 'YYYY-MM-DD'), 'address', i.address,
                'numberDocument', i.number_document, 'identityDocument', i.identity_document,
                'consentAt', to_char(i.consent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
              END AS numbering
         FROM inquiries i JOIN institutions inst ON inst.id = i.institution_id
        WHERE i.fanout_id = $1 AND i.status = 'running' ORDER BY i.priority, i.created_at`,
      [fanoutId],
    );
  }

  /** Of these inquiries, those the node has already answered (or failed) for. */
  async answered(inquiryIds: string[], nodeId: string): Promise<Set<string>> {
    const rows: { inquiry_id: string }[] = await this.db.query(
      `SELECT inquiry_id FROM inquiry_answers WHERE inquiry_id = ANY ($1::uuid[]) AND node_id = $2
       UNION
       SELECT x.id FROM empty_answers e
        CROSS JOIN LATERAL unnest(e.inquiry_ids) AS x(id)
        JOIN unnest($1::uuid[]) AS asked(id) ON asked.id = x.id
        WHERE e.node_id = $2
          -- Nothing answers an inquiry before it started; a minute's margin for a failover's clock.
          AND e.answered_at >= (SELECT min(started_at) FROM inquiries WHERE id = ANY ($1::uuid[])) - interval '1 minute'`,
      [inquiryIds, nodeId],
    );
    return new Set(rows.map((r) => r.inquiry_id));
  }

  /**
   * Writes nodes' answers, for running inquiries only (an answer to an inquiry already
   * final is dropped). An answer that lists nothing (the usual one) is an entry of
   * empty_answers, one row per node for the whole call; any other is a row of
   * inquiry_answers under (inquiry, node), where a row already there wins — except that
   * an answer replaces an "unreachable" (the node did answer). A job that runs twice
   * changes nothing the readers see. Returns the inquiries written.
   */
  async writeAnswers(executor: SqlExecutor, answers: AnswerRow[]): Promise<string[]> {
    if (answers.length === 0) return [];
    const listed: AnswerRow[] = [];
    const empty: AnswerRow[] = [];
    for (const a of answers) (a.status === 'answered' && !a.found?.length ? empty : listed).push(a);
    const rows: { inquiry_id: string }[] = await executor.query(
      `WITH running AS (
         SELECT id FROM inquiries WHERE id = ANY ($1::uuid[] || $6::uuid[]) AND status = 'running'
       ), listed AS (
         INSERT INTO inquiry_answers (inquiry_id, node_id, status, found, failure)
         SELECT a.inquiry_id, a.node_id, a.status, a.found, a.failure
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[])
                AS a(inquiry_id, node_id, status, found, failure)
          WHERE a.inquiry_id IN (SELECT id FROM running)
         ON CONFLICT (inquiry_id, node_id) DO UPDATE
            SET status = excluded.status, found = excluded.found, failure = NULL, answered_at = excluded.answered_at
          WHERE inquiry_answers.status = 'unreachable' AND excluded.status = 'answered'
         RETURNING inquiry_id
       ), empty AS (
         INSERT INTO empty_answers (node_id, inquiry_ids)
         SELECT e.node_id, array_agg(DISTINCT e.inquiry_id)
           FROM unnest($6::uuid[], $7::uuid[]) AS e(inquiry_id, node_id)
          WHERE e.inquiry_id IN (SELECT id FROM running)
          GROUP BY e.node_id
         RETURNING inquiry_ids
       )
       SELECT inquiry_id FROM listed
       UNION ALL
       SELECT unnest(inquiry_ids) FROM empty`,
      [
        listed.map((a) => a.inquiryId),
        listed.map((a) => a.nodeId),
        listed.map((a) => a.status),
        listed.map((a) => JSON.stringify(a.found ?? [])),
        listed.map((a) => a.failure ?? null),
        empty.map((a) => a.inquiryId),
        empty.map((a) => a.nodeId),
      ],
    );
    return rows.map((r) => r.inquiry_id);
  }

  /** Fan-outs carrying running inquiries, and the most urgent priority among them (null if none). */
  async fanoutsInFlight(executor: SqlExecutor): Promise<{ fanouts: number; mostUrgent: number | null }> {
    const rows: { fanouts: number; most_urgent: number | null }[] = await executor.query(
      `SELECT count(DISTINCT fanout_id)::int AS fanouts, min(priority)::int AS most_urgent FROM inquiries WHERE status = 'running'`,
    );
    return { fanouts: rows[0].fanouts, mostUrgent: rows[0].most_urgent };
  }

  /**
   * Makes inquiries final: every node that has not answered is unreachable, then the
   * status is `partial` if any node has no answer and `completed` otherwise. The
   * number's ciphertext goes, and a numbering request's address: nothing needs them any more. Returns what became final.
   */
  async finalize(
    executor: SqlExecutor,
    which: { fanoutId: string } | { inquiryIds: string[] },
    failure: string,
  ): Promise<FinalizedInquiry[]> {
    const [filter, param] =
      'fanoutId' in which ? ['fanout_id = $1', which.fanoutId] : ['id = ANY ($1::uuid[])', which.inquiryIds];
    // Locked in one order, so that the fan-out's finish and the reconciler cannot deadlock.
    const locked: { id: string }[] = await executor.query(
      `SELECT id FROM inquiries WHERE ${filter} AND status IN ('queued', 'running') ORDER BY id FOR UPDATE`,
      [param],
    );
    const ids = locked.map((r) => r.id);
    if (ids.length === 0) return [];
    // Each inquiry's (inquiry, node) pairs without an answer: one pass over its answers
    // and its empty-answer entries, not one key look-up per pair.
    const unanswered: { inquiry_id: string }[] = await executor.query(
      `WITH target AS (
         SELECT i.id AS inquiry_id, k.node_id
           FROM inquiries i
           CROSS JOIN LATERAL unnest(i.target_codes) AS t(code)
           JOIN (${KNOWN_INSTITUTIONS}) k ON k.code = t.code
          WHERE i.id = ANY ($1::uuid[])
       ), answered AS (
         SELECT inquiry_id, node_id FROM inquiry_answers WHERE inquiry_id = ANY ($1::uuid[]) AND status = 'answered'
         UNION ALL
         SELECT x.id, e.node_id FROM empty_answers e
          CROSS JOIN LATERAL unnest(e.inquiry_ids) AS x(id)
          JOIN unnest($1::uuid[]) AS f(id) ON f.id = x.id
          WHERE e.inquiry_ids && $1::uuid[]
       ), missing AS (
         SELECT t.inquiry_id, t.node_id FROM target t
          WHERE NOT EXISTS (SELECT 1 FROM answered a WHERE a.inquiry_id = t.inquiry_id AND a.node_id = t.node_id)
       ), recorded AS (
         INSERT INTO inquiry_answers (inquiry_id, node_id, status, failure)
         SELECT inquiry_id, node_id, 'unreachable', $2 FROM missing
         ON CONFLICT (inquiry_id, node_id) DO NOTHING
       )
       SELECT DISTINCT inquiry_id FROM missing`,
      [ids, failure],
    );
    const result = await executor.query(
      `UPDATE inquiries i
          SET status = CASE WHEN i.id = ANY ($2::uuid[]) THEN 'partial' ELSE 'completed' END,
              completed_at = now(), my_number_ciphertext = NULL, data_key_id = NULL, address = NULL
        WHERE i.id = ANY ($1::uuid[]) AND i.status IN ('queued', 'running')
       RETURNING i.id, i.institution_id AS "institutionId", i.kind, i.status,
                 EXTRACT(EPOCH FROM i.completed_at - i.created_at)::float8 AS "durationSeconds"`,
      [ids, unanswered.map((r) => r.inquiry_id)],
    );
    return returnedRows(result);
  }

  /** Unfinished inquiries past their deadline. */
  async overdue(limit: number): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM inquiries WHERE status IN ('queued', 'running') AND deadline_at <= now()
        ORDER BY deadline_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }

  /** Fan-outs older than `graceSeconds` that still carry running inquiries. */
  async runningFanouts(graceSeconds: number): Promise<string[]> {
    const rows: { fanout_id: string }[] = await this.db.query(
      `SELECT DISTINCT fanout_id FROM inquiries
        WHERE status = 'running' AND fanout_started_at < now() - make_interval(secs => $1)`,
      [graceSeconds],
    );
    return rows.map((r) => r.fanout_id);
  }

  /** Puts a lost fan-out's inquiries back in the queue; answers already written stay. */
  async requeue(fanoutIds: string[]): Promise<number> {
    const result = await this.db.query(
      `UPDATE inquiries SET status = 'queued', fanout_id = NULL, fanout_started_at = NULL
        WHERE fanout_id = ANY ($1::uuid[]) AND status = 'running' RETURNING id`,
      [fanoutIds],
    );
    return returnedRows(result).length;
  }

  async queuedSince(graceSeconds: number): Promise<number> {
    const rows: { n: number }[] = await this.db.query(
      `SELECT count(*)::int AS n FROM inquiries
        WHERE status = 'queued' AND created_at < now() - make_interval(secs => $1)`,
      [graceSeconds],
    );
    return rows[0].n;
  }

  /**
   * Retention: empties the account lists of inquiries final for longer than the
   * period, keeping which institutions had accounts, the status and the audit rows.
   */
  async purgeResults(retentionDays: number, limit: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE inquiries SET results_purged_at = now()
          WHERE id IN (SELECT id FROM inquiries
                        WHERE results_purged_at IS NULL AND completed_at < now() - make_interval(days => $1)
                        ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED)
          RETURNING id`,
        [retentionDays, limit],
      );
      const ids = returnedRows<{ id: string }>(result).map((r) => r.id);
      if (ids.length > 0) {
        await tx.query(
          `UPDATE inquiry_answers
              SET found = (SELECT coalesce(jsonb_agg(jsonb_build_object('code', e -> 'code', 'accounts', '[]'::jsonb)), '[]')
                             FROM jsonb_array_elements(found) e)
            WHERE inquiry_id = ANY ($1::uuid[]) AND found <> '[]'::jsonb
              -- A numbering request's answers hold statuses and counts, no account list.
              AND inquiry_id NOT IN (SELECT id FROM inquiries WHERE id = ANY ($1::uuid[]) AND kind = 'numbering')`,
          [ids],
        );
      }
      return ids.length;
    });
  }
}
