import { Injectable } from '@nestjs/common';
import type { ActorType, AuditAction } from '../audit/audit-event.js';
import type { BlindIndexValue } from '../crypto/blind-index.js';
import type { SqlExecutor } from '../database/sql-executor.js';

/** Where a number has been seen on this node: its subjects and the requests about it. */
export interface SubjectTraces {
  subjectIds: string[];
  requests: { id: string; kind: 'inheritance' | 'disaster' | 'numbering' }[];
}

export interface HistoryEventRow {
  id: string;
  at: string;
  actorType: ActorType;
  branchCode: string | null;
  action: AuditAction;
  resourceType: string | null;
  resourceId: string | null;
  details: Record<string, unknown>;
  institutionCode: string | null;
  institutionName: string | null;
  inquiryKind: 'inheritance' | 'disaster' | 'numbering' | null;
  /** inquiry.subject-located, linkage.holder-reported-deceased: the institution holding the accounts. */
  holderCode: string | null;
  holderName: string | null;
}

/**
 * The SQL of the access history. Both look-ups probe the blind-index indexes with one
 * digest per key version held (subjects_blind_index, inquiries_subject), so that
 * rows indexed before a blind-index rotation are found too.
 */
@Injectable()
export class AccessHistoryRepository {
  async traces(executor: SqlExecutor, indexes: BlindIndexValue[], birthDate: string): Promise<SubjectTraces> {
    const versions = indexes.map((i) => i.version);
    const digests = indexes.map((i) => i.digest);
    // One after the other: the executor may be a transaction's single connection.
    const subjects: { id: string }[] = await executor.query(
        `SELECT s.id FROM unnest($1::smallint[], $2::bytea[]) AS k (version, digest)
           JOIN subjects s ON s.blind_index_version = k.version AND s.blind_index = k.digest
          WHERE s.birth_date = $3::date`,
      [versions, digests, birthDate],
    );
    const requests: SubjectTraces['requests'] = await executor.query(
        `SELECT q.id, q.kind FROM unnest($1::smallint[], $2::bytea[]) AS k (version, digest)
           JOIN inquiries q ON q.blind_index_version = k.version AND q.blind_index = k.digest
          WHERE q.birth_date = $3::date
          ORDER BY q.created_at DESC`,
      [versions, digests, birthDate],
    );
    return { subjectIds: subjects.map((s) => s.id), requests };
  }

  /**
   * One page, newest first, of the audit rows of the listed actions that name one of
   * the subjects, or have one of the requests as their resource. Each branch of the
   * union reads at most a page by its index, (subject_id, id) or (resource_id, id).
   */
  async page(
    executor: SqlExecutor,
    traces: SubjectTraces,
    actions: AuditAction[],
    beforeId: string | null,
    limit: number,
  ): Promise<HistoryEventRow[]> {
    if (traces.subjectIds.length === 0 && traces.requests.length === 0) return [];
    return executor.query(
      `SELECT e.id::text AS id,
              to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
              e.actor_type AS "actorType", e.branch_code AS "branchCode", e.action,
              e.resource_type AS "resourceType", e.resource_id AS "resourceId", e.details,
              i.code AS "institutionCode", i.name AS "institutionName", q.kind AS "inquiryKind",
              h.code AS "holderCode", h.name AS "holderName"
         FROM ((SELECT * FROM audit_events
                 WHERE subject_id = ANY ($1::uuid[]) AND ($3::bigint IS NULL OR id < $3) AND action = ANY ($4::text[])
                 ORDER BY id DESC LIMIT $5)
               UNION
               (SELECT * FROM audit_events
                 WHERE resource_id = ANY ($2::uuid[]) AND ($3::bigint IS NULL OR id < $3) AND action = ANY ($4::text[])
                 ORDER BY id DESC LIMIT $5)) e
         LEFT JOIN institutions i ON i.id = e.institution_id
         LEFT JOIN institutions h ON h.code = e.details ->> 'holder'
                                  AND e.action IN ('inquiry.subject-located', 'linkage.holder-reported-deceased')
         LEFT JOIN inquiries q ON q.id = e.resource_id AND e.resource_type IN ('inquiry', 'numbering-request')
        ORDER BY e.id DESC
        LIMIT $5`,
      [traces.subjectIds, traces.requests.map((r) => r.id), beforeId, actions, limit],
    );
  }
}
