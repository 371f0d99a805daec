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

const LINKAGE_COLUMNS = `l.id, l.attachment_id AS "attachmentId", l.subject_id AS "subjectId",
  l.branch_code AS "branchCode", l.account_type AS "accountType", l.account_number AS "accountNumber",
  l.status, l.created_at AS "createdAt", l.revoked_at AS "revokedAt", l.revocation_reason AS "revocationReason",
  l.revocation_note AS "revocationNote", l.revoked_by_operator AS "revokedByOperator",
  l.revoked_at_branch AS "revokedAtBranch"`;

const WITH_SUBJECT = `${LINKAGE_COLUMNS},
  s.id AS "s_id", to_char(s.birth_date, 'YYYY-MM-DD') AS "s_birthDate", s.name_kana AS "s_nameKana",
  s.data_key_id AS "s_dataKeyId", s.my_number_ciphertext AS "s_ciphertext"`;

function withSubject(row: Record<string, any>): LinkageWithSubject {
  const { s_id, s_birthDate, s_nameKana, s_dataKeyId, s_ciphertext, ...linkage } = row;
  return {
    ...(linkage as LinkageRow),
    subject: { id: s_id, birthDate: s_birthDate, nameKana: s_nameKana, dataKeyId: s_dataKeyId, ciphertext: s_ciphertext },
  };
}

export interface AttachInput {
  institutionId: string;
  apiKeyId: string;
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
   * The whole attachment in one call to `kouza_attach` (see its migration), as a
   * named prepared statement. Throws `AttachRefusal` for the refusals it raises.
   */
  async attach(input: AttachInput): Promise<AttachOutcome> {
    try {
      const { rows } = await this.pool.query({
        name: 'kouza_attach',
        text: `SELECT kouza_attach($1, $2, $3, $4, make_interval(hours => $5), $6, $7, $8, $9, $10, $11, $12, $13,
                                   $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) AS result`,
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
