import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';
import { HOSTED_NODE_ID, INQUIRY_KINDS } from './inquiry.types.js';
import type { FanoutKind, InquiryKind, InquiryStatus, LocatedAccount, ResultStatus } from './inquiry.types.js';

export interface NewInquiry {
  id: string;
  institutionId: string;
  apiKeyId: string;
  kind: FanoutKind;
  priority: number;
  branchCode: string;
  operatorId: string;
  blindIndexVersion: number;
  blindIndex: Buffer;
  ciphertext: Buffer;
  dataKeyId: string;
  nameKana: string;
  birthDate: string;
  dateOfDeath: string | null;
  municipalityCode: string | null;
  /** Location inquiries only. */
  applicantRelationship: string | null;
  applicantName: string | null;
  evidence: { type: string; reference: string }[];
  declarationId: string | null;
  /** The institutions asked, sorted; null: every institution known when the row is written (read by the INSERT itself). */
  targetCodes: string[] | null;
  targetsAll: boolean;
  deadlineSeconds: number;
  /** Numbering requests only. */
  numbering?: {
    address: string;
    postalCode: string | null;
    numberDocument: string;
    identityDocument: string;
    consentAt: string;
  };
}

export interface InquiryRecord {
  id: string;
  kind: FanoutKind;
  status: InquiryStatus;
  branchCode: string;
  rejectionReason: string | null;
  createdAt: Date;
  deadlineAt: Date;
  completedAt: Date | null;
  resultsPurgedAt: Date | null;
}

export interface InquiryResultRow {
  institutionCode: string;
  institutionName: string;
  status: ResultStatus;
  accounts: LocatedAccount[];
}

const LOCATION_KINDS: readonly InquiryKind[] = INQUIRY_KINDS;

const RECORD_COLUMNS = `id, kind, status, branch_code AS "branchCode", rejection_reason AS "rejectionReason",
  created_at AS "createdAt", deadline_at AS "deadlineAt", completed_at AS "completedAt",
  results_purged_at AS "resultsPurgedAt"`;

/**
 * Every institution this node can ask: the hosted ones and those behind enabled
 * peers. Codes are unique across both (registration refuses a clash).
 */
export const KNOWN_INSTITUTIONS = `
  SELECT code, name, '${HOSTED_NODE_ID}'::uuid AS node_id FROM institutions
  UNION ALL
  SELECT pi.code, pi.name, pi.peer_id FROM peer_institutions pi JOIN peers p ON p.id = pi.peer_id
   WHERE p.disabled_at IS NULL`;

/** The nodes that answered inquiry $1 listing nothing (a node job that ran twice: once). */
export const EMPTY_ANSWERS_OF_INQUIRY = `
  SELECT DISTINCT node_id FROM empty_answers WHERE inquiry_ids @> ARRAY[$1::uuid]`;

@Injectable()
export class InquiriesRepository {
  constructor(private readonly db: DataSource) {}

  /** The known institutions among `codes` (all of them when null), sorted. */
  async knownCodes(codes: string[] | null): Promise<string[]> {
    const rows: { code: string }[] = await this.db.query(
      `SELECT code FROM (${KNOWN_INSTITUTIONS}) k WHERE $1::text[] IS NULL OR code = ANY($1) ORDER BY code`,
      [codes],
    );
    return rows.map((r) => r.code);
  }

  /**
   * Writes a new inquiry or numbering request; `institutions` is how many it asks. Every
   * known institution (targetCodes null) is read here, in the statement: a thousand codes
   * need not travel to the API and back for each inquiry.
   */
  async insert(executor: SqlExecutor, row: NewInquiry): Promise<{ id: string; status: InquiryStatus; institutions: number }> {
    const rows = await executor.query(
      `INSERT INTO inquiries (id, institution_id, api_key_id, kind, priority, branch_code, operator_id,
         blind_index_version, blind_index, my_number_ciphertext, data_key_id, name_kana, birth_date, date_of_death,
         municipality_code, applicant_relationship, applicant_name, evidence, declaration_id, target_codes,
         targets_all, deadline_at, address, postal_code, number_document, identity_document, consent_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
         coalesce($20::text[], (SELECT coalesce(array_agg(code ORDER BY code), '{}') FROM (${KNOWN_INSTITUTIONS}) k)), $21,
         now() + make_interval(secs => $22), $23, $24, $25, $26, $27)
       RETURNING id, status, cardinality(target_codes) AS institutions`,
      [
        row.id,
        row.institutionId,
        row.apiKeyId,
        row.kind,
        row.priority,
        row.branchCode,
        row.operatorId,
        row.blindIndexVersion,
        row.blindIndex,
        row.ciphertext,
        row.dataKeyId,
        row.nameKana,
        row.birthDate,
        row.dateOfDeath,
        row.municipalityCode,
        row.applicantRelationship,
        row.applicantName,
        JSON.stringify(row.evidence),
        row.declarationId,
        row.targetCodes,
        row.targetsAll,
        row.deadlineSeconds,
        row.numbering?.address ?? null,
        row.numbering?.postalCode ?? null,
        row.numbering?.numberDocument ?? null,
        row.numbering?.identityDocument ?? null,
        row.numbering?.consentAt ?? null,
      ],
    );
    return rows[0];
  }

  // find, list and results read from `db`: the read replica for the status views
  // (ReadDatabase), the primary by default.

  /**
   * The requester's row of one of `kinds`; undefined for anyone else's, and for a row of
   * another kind (a numbering request is not an inquiry, nor the reverse).
   */
  async find(
    institutionId: string,
    id: string,
    kinds: readonly FanoutKind[] = LOCATION_KINDS,
    db: SqlExecutor = this.db,
  ): Promise<InquiryRecord | undefined> {
    const rows: InquiryRecord[] = await db.query(
      `SELECT ${RECORD_COLUMNS} FROM inquiries WHERE id = $1 AND institution_id = $2 AND kind = ANY ($3::text[])`,
      [id, institutionId, kinds],
    );
    return rows[0];
  }

  list(
    institutionId: string,
    limit: number,
    status?: InquiryStatus,
    kinds: readonly FanoutKind[] = LOCATION_KINDS,
    db: SqlExecutor = this.db,
  ): Promise<InquiryRecord[]> {
    return db.query(
      `SELECT ${RECORD_COLUMNS} FROM inquiries
        WHERE institution_id = $1 AND ($3::text IS NULL OR status = $3) AND kind = ANY ($4::text[])
        ORDER BY created_at DESC LIMIT $2`,
      [institutionId, limit, status ?? null, kinds],
    );
  }

  /**
   * One row per institution asked: its node's answer, if any. An institution whose
   * node answered is `found` when the answer lists it, else `not-found` (an answer that
   * listed nothing is an entry of empty_answers); an answer beats an "unreachable".
   */
  results(id: string, db: SqlExecutor = this.db): Promise<InquiryResultRow[]> {
    return db.query(
      `SELECT t.code AS "institutionCode", coalesce(k.name, t.code) AS "institutionName",
              CASE WHEN a.status = 'answered' THEN CASE WHEN f.accounts IS NOT NULL THEN 'found' ELSE 'not-found' END
                   WHEN ea.node_id IS NOT NULL THEN 'not-found'
                   WHEN a.status = 'unreachable' OR i.completed_at IS NOT NULL THEN 'unreachable'
                   ELSE 'pending' END AS status,
              coalesce(f.accounts, '[]'::jsonb) AS accounts
         FROM inquiries i
         CROSS JOIN LATERAL unnest(i.target_codes) AS t(code)
         LEFT JOIN (${KNOWN_INSTITUTIONS}) k ON k.code = t.code
         LEFT JOIN inquiry_answers a ON a.inquiry_id = i.id AND a.node_id = k.node_id
         LEFT JOIN (${EMPTY_ANSWERS_OF_INQUIRY}) ea ON ea.node_id = k.node_id
         LEFT JOIN LATERAL (
           SELECT e -> 'accounts' AS accounts FROM jsonb_array_elements(a.found) e WHERE e ->> 'code' = t.code
         ) f ON true
        WHERE i.id = $1
        ORDER BY t.code`,
      [id],
    );
  }
}
