import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { BlindIndexValue } from '../crypto/blind-index.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { AccountRef, RevocationReason } from './linkage.types.js';

export interface SubjectRow {
  id: string;
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
}

export type LinkageWithSubject = LinkageRow & { subject: SubjectRow };

const SUBJECT_COLUMNS = `s.id, to_char(s.birth_date, 'YYYY-MM-DD') AS "birthDate", s.name_kana AS "nameKana",
  s.data_key_id AS "dataKeyId", s.my_number_ciphertext AS ciphertext`;

const LINKAGE_COLUMNS = `l.id, l.attachment_id AS "attachmentId", l.subject_id AS "subjectId",
  l.branch_code AS "branchCode", l.account_type AS "accountType", l.account_number AS "accountNumber",
  l.status, l.created_at AS "createdAt", l.revoked_at AS "revokedAt", l.revocation_reason AS "revocationReason",
  l.revocation_note AS "revocationNote", l.revoked_by_operator AS "revokedByOperator",
  l.revoked_at_branch AS "revokedAtBranch"`;

const WITH_SUBJECT = `${LINKAGE_COLUMNS},
  s.id AS "s_id", to_char(s.birth_date, 'YYYY-MM-DD') AS "s_birthDate", s.name_kana AS "s_nameKana",
  s.data_key_id AS "s_dataKeyId", s.my_number_ciphertext AS "s_ciphertext"`;

/** $1 attachment id, $2 institution id, $3 subject id, $4..$7 linkage ids and accounts as arrays. */
const INSERT_LINKAGES = `
  INSERT INTO linkages AS l (id, institution_id, subject_id, attachment_id, branch_code, account_type, account_number)
  SELECT a.id, $2, $3, $1, a.branch_code, a.account_type, a.account_number
    FROM unnest($4::uuid[], $5::text[], $6::text[], $7::text[]) AS a (id, branch_code, account_type, account_number)
  ON CONFLICT (institution_id, branch_code, account_type, account_number) WHERE status = 'active' DO NOTHING
  RETURNING ${LINKAGE_COLUMNS}`;

function linkageArrays(ids: string[], accounts: AccountRef[]): unknown[] {
  return [ids, accounts.map((a) => a.branchCode), accounts.map((a) => a.accountType), accounts.map((a) => a.accountNumber)];
}

function withSubject(row: Record<string, any>): LinkageWithSubject {
  const { s_id, s_birthDate, s_nameKana, s_dataKeyId, s_ciphertext, ...linkage } = row;
  return {
    ...(linkage as LinkageRow),
    subject: { id: s_id, birthDate: s_birthDate, nameKana: s_nameKana, dataKeyId: s_dataKeyId, ciphertext: s_ciphertext },
  };
}

/** All SQL about subjects, attachments and linkages. */
@Injectable()
export class LinkagesRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * The institution's record of this number, found by any blind-index version held
   * (rows written before a key rotation keep their old version until re-indexed).
   */
  async findSubject(executor: SqlExecutor, institutionId: string, indexes: BlindIndexValue[]): Promise<SubjectRow | undefined> {
    const rows: SubjectRow[] = await executor.query(
      `SELECT ${SUBJECT_COLUMNS} FROM subjects s
        WHERE s.institution_id = $1
          AND (s.blind_index_version, s.blind_index) IN (SELECT * FROM unnest($2::smallint[], $3::bytea[]))
        LIMIT 1`,
      [institutionId, indexes.map((i) => i.version), indexes.map((i) => i.digest)],
    );
    return rows[0];
  }

  /**
   * Inserts the subject, or, when a concurrent request inserted it first, returns
   * that row (the unique key is the blind index at the active version).
   */
  async insertSubject(
    executor: SqlExecutor,
    row: {
      id: string;
      institutionId: string;
      index: BlindIndexValue;
      dataKeyId: string;
      ciphertext: Buffer;
      nameKana: string;
      birthDate: string;
    },
  ): Promise<SubjectRow & { inserted: boolean }> {
    const rows: Array<SubjectRow & { inserted: boolean }> = await executor.query(
      `INSERT INTO subjects AS s (id, institution_id, blind_index_version, blind_index, my_number_ciphertext,
                                  data_key_id, name_kana, birth_date)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (institution_id, blind_index_version, blind_index) DO UPDATE SET updated_at = s.updated_at
       RETURNING ${SUBJECT_COLUMNS}, (s.xmax = 0) AS inserted`,
      [row.id, row.institutionId, row.index.version, row.index.digest, row.ciphertext, row.dataKeyId, row.nameKana, row.birthDate],
    );
    return rows[0];
  }

  async updateSubjectName(executor: SqlExecutor, subjectId: string, nameKana: string): Promise<void> {
    await executor.query(`UPDATE subjects SET name_kana = $2, updated_at = now() WHERE id = $1`, [subjectId, nameKana]);
  }

  /**
   * Records the attachment and links every account not already linked, in one
   * statement. Accounts that already have an active linkage are skipped (the unique
   * index decides, also against concurrent requests); the caller looks them up.
   */
  async insertAttachmentAndLinkages(
    executor: SqlExecutor,
    attachment: {
      id: string;
      institutionId: string;
      subjectId: string;
      branchCode: string;
      operatorId: string;
      apiKeyId: string;
      numberDocument: string;
      identityDocument: string;
      consentAt: string;
    },
    linkageIds: string[],
    accounts: AccountRef[],
  ): Promise<LinkageRow[]> {
    return executor.query(
      `WITH attachment AS (
         INSERT INTO attachments (id, institution_id, subject_id, branch_code, operator_id, api_key_id,
                                  number_document, identity_document, consent_at)
         VALUES ($1, $2, $3, $8, $9, $10, $11, $12, $13)
       )
       ${INSERT_LINKAGES}`,
      [
        attachment.id,
        attachment.institutionId,
        attachment.subjectId,
        ...linkageArrays(linkageIds, accounts),
        attachment.branchCode,
        attachment.operatorId,
        attachment.apiKeyId,
        attachment.numberDocument,
        attachment.identityDocument,
        attachment.consentAt,
      ],
    );
  }

  /** Links accounts to an attachment already recorded (the retry path of a race). */
  async insertLinkages(
    executor: SqlExecutor,
    owner: { institutionId: string; subjectId: string; attachmentId: string },
    linkageIds: string[],
    accounts: AccountRef[],
  ): Promise<LinkageRow[]> {
    return executor.query(INSERT_LINKAGES, [
      owner.attachmentId,
      owner.institutionId,
      owner.subjectId,
      ...linkageArrays(linkageIds, accounts),
    ]);
  }

  async findActiveByAccounts(executor: SqlExecutor, institutionId: string, accounts: AccountRef[]): Promise<LinkageRow[]> {
    return executor.query(
      `SELECT ${LINKAGE_COLUMNS} FROM linkages l
        JOIN unnest($2::text[], $3::text[], $4::text[]) AS a (branch_code, account_type, account_number)
          ON l.branch_code = a.branch_code AND l.account_type = a.account_type AND l.account_number = a.account_number
        WHERE l.institution_id = $1 AND l.status = 'active'`,
      [institutionId, accounts.map((a) => a.branchCode), accounts.map((a) => a.accountType), accounts.map((a) => a.accountNumber)],
    );
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
