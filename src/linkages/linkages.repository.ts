import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import type { BlindIndexValue } from '../crypto/blind-index.js';
import { PG_POOL } from '../database/database.module.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { AccountRef, RevocationReason } from './linkage.types.js';

export interface SubjectRow {
  id: string;
  blindIndexVersion: number;
  birthDate: string;
  nameKana: string;
  dataKeyId: string;
  ciphertext: Buffer;
}

export interface LinkageRow {
  id: string;
  attachmentId: string;
  subjectId: string;
  branchCode: string;
  accountType: string;
  accountNumber: string;
  status: 'active' | 'revoked';
  createdAt: Date;
  revokedAt: Date | null;
  revocationReason: string | null;
  revocationNote: string | null;
  revokedByOperator: string | null;
  revokedAtBranch: string | null;
  holderReportedDeceasedAt: Date | null;
  holderDateOfDeath: string | null;
  deceasedInquiryId: string | null;
  deceasedReportedByNode: string | null;
  deceasedEvidence: { type: string; reference: string }[] | null;
}

export type LinkageWithSubject = LinkageRow & { subject: SubjectRow };

const LINKAGE_COLUMNS = `l.id, l.attachment_id AS "attachmentId", l.subject_id AS "subjectId",
  l.branch_code AS "branchCode", l.account_type AS "accountType", l.account_number AS "accountNumber",
  l.status, l.created_at AS "createdAt", l.revoked_at AS "revokedAt", l.revocation_reason AS "revocationReason",
  l.revocation_note AS "revocationNote", l.revoked_by_operator AS "revokedByOperator",
  l.revoked_at_branch AS "revokedAtBranch", l.holder_reported_deceased_at AS "holderReportedDeceasedAt",
  to_char(l.holder_date_of_death, 'YYYY-MM-DD') AS "holderDateOfDeath", l.deceased_inquiry_id AS "deceasedInquiryId",
  l.deceased_reported_by_node AS "deceasedReportedByNode", l.deceased_evidence AS "deceasedEvidence"`;

const WITH_SUBJECT = `${LINKAGE_COLUMNS},
  s.id AS "s_id", s.blind_index_version AS "s_blindIndexVersion", to_char(s.birth_date, 'YYYY-MM-DD') AS "s_birthDate", s.name_kana AS "s_nameKana",
  s.data_key_id AS "s_dataKeyId", s.my_number_ciphertext AS "s_ciphertext"`;

function withSubject(row: Record<string, any>): LinkageWithSubject {
  const { s_id, s_blindIndexVersion, s_birthDate, s_nameKana, s_dataKeyId, s_ciphertext, ...linkage } = row;
  return {
    ...(linkage as LinkageRow),
    subject: {
      id: s_id,
      blindIndexVersion: Number(s_blindIndexVersion),
      birthDate: s_birthDate,
      nameKana: s_nameKana,
      dataKeyId: s_dataKeyId,
      ciphertext: s_ciphertext,
    },
  };
}

export interface AttachInput {
  institutionId: string;
  /** Null when no key of this institution acted (a numbering request). */
  apiKeyId: string | null;
  requestId: string;
  idempotencyKey?: string;
  idempotencyTtlHours: number;
  /** HMACs of the request under each key version held, the active one first. */
  fingerprints: Buffer[];
  subjectId: string;
  indexes: BlindIndexValue[];
  ciphertext: Buffer;
  dataKeyId: string;
  nameKana: string;
  birthDate: string;
  attachmentId: string;
  branchCode: string;
  operatorId: string;
  numberDocument: string;
  identityDocument: string;
  consentAt: string;
  accounts: AccountRef[];
  /**
   * Set when a numbering request attaches (not a teller here): audited as
   * `numbering.attach` by `actorType`, the origin recorded in the attachment and in
   * the audit details. Such attachments always go through `kouza_attach`.
   */
  numbering?: { actorType: 'institution' | 'peer'; origin: AttachOrigin };
}

/** Where a numbering request came from, as `kouza_attach` stores it (ids and codes only). */
export interface AttachOrigin {
  requestId: string;
  nodeId: string | null;
  institutionCode: string;
  branchCode: string;
  operatorId: string;
}

/** What `kouza_attach` returns (and stores as the idempotent answer). */
export interface AttachOutcome {
  attachmentId: string;
  subject: { id: string; nameKana: string; birthDate: string };
  linkages: Array<{
    id: string;
    branchCode: string;
    accountType: string;
    accountNumber: string;
    status: 'active';
    createdAt: string;
    alreadyLinked: boolean;
  }>;
  created: number;
  replayed?: true;
}

/**
 * The parameters both attachment statements end with, in this order: the subject's
 * ciphertext, data key, name and birth date, then the attachment and its accounts.
 */
function attachmentValues(input: AttachInput): unknown[] {
  return [
    input.ciphertext,
    input.dataKeyId,
    input.nameKana,
    input.birthDate,
    input.attachmentId,
    input.branchCode,
    input.operatorId,
    input.numberDocument,
    input.identityDocument,
    input.consentAt,
    input.accounts.map(() => randomUUID()),
    input.accounts.map((a) => a.branchCode),
    input.accounts.map((a) => a.accountType),
    input.accounts.map((a) => a.accountNumber),
  ];
}

/** Raised by `kouza_attach_fallback()`: the single statement met a case it leaves to `kouza_attach`. */
const FALLBACK_SQLSTATE = 'KH001';

/**
 * A new depositor with new accounts, as one statement: every CTE writes, and the
 * final SELECT raises (undoing them all) unless the subject and every account were
 * inserted. Writes the same rows, audit row included, as `kouza_attach` does.
 */
const ATTACH_NEW = `
  WITH subject AS (
    INSERT INTO subjects (id, institution_id, blind_index_version, blind_index, my_number_ciphertext,
                          data_key_id, name_kana, birth_date)
    VALUES ($4, $1, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (institution_id, blind_index_version, blind_index) DO NOTHING
    RETURNING id, name_kana, birth_date),
  attachment AS (
    INSERT INTO attachments (id, institution_id, subject_id, branch_code, operator_id, api_key_id,
                             number_document, identity_document, consent_at)
    SELECT $11, $1, subject.id, $12, $13, $2, $14, $15, $16 FROM subject
    RETURNING id),
  linked AS (
    INSERT INTO linkages (id, institution_id, subject_id, attachment_id, branch_code, account_type, account_number)
    SELECT a.id, $1, subject.id, $11, a.branch, a.type, a.number
      FROM subject, unnest($17::uuid[], $18::text[], $19::text[], $20::text[]) AS a (id, branch, type, number)
    ON CONFLICT (institution_id, branch_code, account_type, account_number) WHERE status = 'active' DO NOTHING
    RETURNING id, branch_code, account_type, account_number, status, created_at),
  result AS (
    SELECT jsonb_agg(jsonb_build_object(
             'id', l.id, 'branchCode', l.branch_code, 'accountType', l.account_type,
             'accountNumber', l.account_number, 'status', l.status, 'createdAt', l.created_at,
             'alreadyLinked', false) ORDER BY a.ord) AS linkages,
           count(*)::int AS created
      FROM linked l
      JOIN unnest($18::text[], $19::text[], $20::text[]) WITH ORDINALITY AS a (branch, type, number, ord)
        ON l.branch_code = a.branch AND l.account_type = a.type AND l.account_number = a.number),
  audit AS (
    INSERT INTO audit_events (institution_id, actor_type, api_key_id, branch_code, operator_id, request_id,
                              action, resource_type, resource_id, subject_id, details)
    SELECT $1, 'institution', $2, $12, $13, $3, 'linkage.attach', 'attachment', $11, subject.id,
           jsonb_build_object(
             'linkageIds', (SELECT jsonb_agg(x -> 'id') FROM jsonb_array_elements(result.linkages) x),
             'created', result.created, 'alreadyLinked', 0,
             'numberDocument', $14::text, 'identityDocument', $15::text, 'nameChanged', false)
      FROM subject, result)
  SELECT CASE WHEN (SELECT count(*) FROM subject) = 0 OR result.created < cardinality($18::text[])
              THEN kouza_attach_fallback() END AS fallback,
         jsonb_build_object(
           'attachmentId', $11::uuid,
           'subject', (SELECT jsonb_build_object('id', id, 'nameKana', name_kana, 'birthDate', birth_date) FROM subject),
           'linkages', result.linkages,
           'created', result.created) AS result
    FROM result`;

const ATTACH_REFUSALS = new Set(['IDEMPOTENCY_KEY_REUSED', 'SUBJECT_BIRTH_DATE_MISMATCH', 'ACCOUNT_LINKED_TO_OTHER_SUBJECT']);
export type AttachRefusalCode = 'IDEMPOTENCY_KEY_REUSED' | 'SUBJECT_BIRTH_DATE_MISMATCH' | 'ACCOUNT_LINKED_TO_OTHER_SUBJECT';

export class AttachRefusal extends Error {
  constructor(
    readonly code: AttachRefusalCode,
    readonly account?: AccountRef,
  ) {
    super(code);
  }
}

/** All SQL about subjects, attachments and linkages. */
@Injectable()
export class LinkagesRepository {
  constructor(
    private readonly db: DataSource,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {}

  /**
   * The attachment, in one database round trip and one implicit transaction.
   *
   * The usual case (no Idempotency-Key, one blind-index key version, a depositor and
   * accounts new to this institution) is a single statement of data-modifying CTEs.
   * Anything else (the depositor is known, an account is already linked, a concurrent
   * request got there first) makes that statement raise and undo itself, and the
   * attachment goes through `kouza_attach` (see its migration), which handles every
   * case. Throws `AttachRefusal` for the refusals that function raises.
   */
  async attach(input: AttachInput): Promise<AttachOutcome> {
    if (!input.idempotencyKey && input.indexes.length === 1 && !input.numbering) {
      try {
        return await this.attachNew(input);
      } catch (error) {
        if ((error as { code?: string }).code !== FALLBACK_SQLSTATE) throw error;
      }
    }
    return this.attachAnyCase(input);
  }

  private async attachNew(input: AttachInput): Promise<AttachOutcome> {
    const { rows } = await this.pool.query({
      name: 'kouza_attach_new',
      text: ATTACH_NEW,
      values: [
        input.institutionId,
        input.apiKeyId,
        input.requestId,
        input.subjectId,
        input.indexes[0].version,
        input.indexes[0].digest,
        ...attachmentValues(input),
      ],
    });
    return rows[0].result as AttachOutcome;
  }

  private async attachAnyCase(input: AttachInput): Promise<AttachOutcome> {
    try {
      const { rows } = await this.pool.query({
        name: 'kouza_attach',
        text: `SELECT kouza_attach($1, $2, $3, $4, make_interval(hours => $5), $6, $7, $8, $9, $10, $11, $12, $13,
                                   $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26) AS result`,
        values: [
          input.institutionId,
          input.apiKeyId,
          input.requestId,
          input.idempotencyKey ?? null,
          input.idempotencyTtlHours,
          input.fingerprints,
          input.subjectId,
          input.indexes.map((i) => i.version),
          input.indexes.map((i) => i.digest),
          ...attachmentValues(input),
          input.numbering ? 'numbering.attach' : 'linkage.attach',
          input.numbering?.actorType ?? 'institution',
          input.numbering ? JSON.stringify(input.numbering.origin) : null,
        ],
      });
      return rows[0].result as AttachOutcome;
    } catch (error) {
      const e = error as { code?: string; message?: string; detail?: string };
      if (e.code === 'P0001' && e.message && ATTACH_REFUSALS.has(e.message)) {
        throw new AttachRefusal(e.message as AttachRefusalCode, e.detail ? JSON.parse(e.detail) : undefined);
      }
      throw error;
    }
  }

  async findById(institutionId: string, id: string): Promise<LinkageWithSubject | undefined> {
    const rows = await this.db.query(
      `SELECT ${WITH_SUBJECT} FROM linkages l JOIN subjects s ON s.id = l.subject_id
        WHERE l.id = $1 AND l.institution_id = $2`,
      [id, institutionId],
    );
    return rows[0] ? withSubject(rows[0]) : undefined;
  }

  async findByAccount(institutionId: string, account: AccountRef, status?: 'active' | 'revoked'): Promise<LinkageWithSubject[]> {
    const rows = await this.db.query(
      `SELECT ${WITH_SUBJECT} FROM linkages l JOIN subjects s ON s.id = l.subject_id
        WHERE l.institution_id = $1 AND l.branch_code = $2 AND l.account_type = $3 AND l.account_number = $4
          AND ($5::text IS NULL OR l.status = $5)
        ORDER BY l.created_at DESC, l.id`,
      [institutionId, account.branchCode, account.accountType, account.accountNumber, status ?? null],
    );
    return rows.map(withSubject);
  }

  /** Revokes an active linkage; undefined when there is no active linkage of that id. */
  async revoke(
    executor: SqlExecutor,
    institutionId: string,
    id: string,
    revocation: { reason: RevocationReason; note: string | null; operatorId: string; branchCode: string },
  ): Promise<LinkageRow | undefined> {
    const [rows] = await executor.query(
      `UPDATE linkages AS l
          SET status = 'revoked', revoked_at = now(), revocation_reason = $3, revocation_note = $4,
              revoked_by_operator = $5, revoked_at_branch = $6
        WHERE l.id = $1 AND l.institution_id = $2 AND l.status = 'active'
        RETURNING ${LINKAGE_COLUMNS}`,
      [id, institutionId, revocation.reason, revocation.note, revocation.operatorId, revocation.branchCode],
    );
    return (rows as LinkageRow[])[0];
  }
}
