import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { normalizeKanaName } from '../common/kana/kana-name.js';
import { AppConfig } from '../config/app-config.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { MyNumberCipher } from '../crypto/my-number-cipher.js';
import { PG_POOL } from '../database/database.module.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import type { AccountRef } from '../linkages/linkage.types.js';
import { AttachOutcome, AttachRefusal, LinkagesRepository } from '../linkages/linkages.repository.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { addressKey, nameKey } from '../register/register-keys.js';

export interface NumberingSubject {
  myNumber: string;
  nameKana: string;
  birthDate: string /* YYYY-MM-DD */;
  address: string;
}

export interface NumberingOrigin {
  requestId: string; // the numbering request's id at its origin node (uuid)
  nodeId: string | null; // null: the request was made on this node; else the origin peer's nodeId
  institutionCode: string; // the originating institution (4 digits)
  branchCode: string; // the originating branch
  operatorId: string; // the originating teller
  numberDocument: string; // verification done at the origin (as for linkages)
  identityDocument: string;
  consentAt: string; // ISO 8601
}

export type NumberingResultStatus = 'attached' | 'no-match' | 'ambiguous';

export interface InstitutionNumberingResult {
  code: string; // a target institution hosted on this node
  status: NumberingResultStatus;
  accounts?: number; // attached: how many accounts of the depositor now carry the number
  reason?: string; // machine reason for no-match / ambiguous
}

/** The machine reasons this service gives for `no-match` and `ambiguous`. */
export type NumberingReason =
  | 'no-register'
  | 'no-candidate'
  | 'several-customers'
  | 'account-linked-to-other-subject'
  | 'birth-date-mismatch'
  | 'request-id-reused';

interface RegisterHolder extends AccountRef {
  customerNumber: string;
  /** As imported; compared as addressKey(address). */
  address: string;
}

interface TargetRow {
  id: string;
  code: string;
  hasRegister: boolean;
  /** The answer kouza_attach stored for this request's idempotency key, if it attached before. */
  stored: AttachOutcome | null;
  /** Open accounts whose holder has the subject's name key and birth date. */
  holders: RegisterHolder[];
}

/**
 * Per target institution: whether it has a register (any row: the first of its
 * partition), the stored answer of an earlier run of the same request, and
 * the open accounts of holders with the subject's name and birth date (the holder
 * index), with their addresses: the address is folded and compared here (addressKey),
 * on these few rows, rather than by the importer on every row of the register. One
 * statement for all targets.
 */
const TARGETS_SQL = `
  SELECT i.id, i.code,
         EXISTS (SELECT 1 FROM account_register r WHERE r.institution_id = i.id) AS "hasRegister",
         k.response_body AS stored,
         COALESCE((
           SELECT jsonb_agg(jsonb_build_object(
                    'branchCode', r.branch_code, 'accountType', r.account_type, 'accountNumber', r.account_number,
                    'customerNumber', r.customer_number, 'address', r.address)
                    ORDER BY r.branch_code, r.account_type, r.account_number)
             FROM account_register r
            WHERE r.institution_id = i.id AND kouza_holder_key(r.name_key, r.birth_date) = kouza_holder_key($2, $3::date)
              AND r.name_key = $2 AND r.birth_date = $3::date AND r.status = 'open'),
           '[]'::jsonb) AS holders
    FROM institutions i
    LEFT JOIN idempotency_keys k
      ON k.institution_id = i.id AND k.idempotency_key = $4 AND k.response_body IS NOT NULL
   WHERE i.code = ANY ($1::text[])
   ORDER BY i.code`;

/**
 * The idempotency key of a numbering request at one target. A space cannot appear in
 * an `Idempotency-Key` header (printable ASCII without space), so no teller's key can
 * collide with it.
 */
export function numberingIdempotencyKey(origin: Pick<NumberingOrigin, 'nodeId' | 'requestId'>): string {
  return `numbering ${origin.nodeId ?? 'local'} ${origin.requestId}`;
}

/**
 * Numbering at the institutions hosted on this node (他行付番, the target side): the
 * depositor is matched in the institution's account register and, when one customer
 * matches, the number is attached to that customer's open accounts through
 * `kouza_attach`, exactly as a teller's linkage, audited as `numbering.attach`.
 */
@Injectable()
export class HostedNumbering {
  constructor(
    private readonly linkages: LinkagesRepository,
    private readonly blindIndex: BlindIndex,
    private readonly cipher: MyNumberCipher,
    private readonly idempotency: IdempotencyService,
    private readonly metrics: MetricsService,
    @Inject(AppConfig) private readonly config: AppConfig,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {}

  /**
   * For each code of `institutionCodes` that is hosted here (others are left out of the result):
   * match the depositor in that institution's account register (open accounts whose name_key, birth_date
   * and addressKey(address) equal the subject's), group candidates by customer_number: none → no-match, more than
   * one customer → ambiguous (nothing attached), one → attach the number to all that customer's open
   * accounts through the same code path as a teller's linkage (kouza_attach), audited as
   * `numbering.attach` from the originating institution. Idempotent per (origin.nodeId, origin.requestId,
   * institution): a second call attaches nothing new and returns the same result.
   *
   * "All that customer's open accounts" are those found by the holder index: the
   * customer's open accounts under the same name and birth date, whatever address each
   * carries (the address only decides which customer matches).
   */
  async apply(subject: NumberingSubject, origin: NumberingOrigin, institutionCodes: string[]): Promise<InstitutionNumberingResult[]> {
    const codes = [...new Set(institutionCodes)];
    if (codes.length === 0) return [];
    const name = nameKey(subject.nameKana);
    const key = numberingIdempotencyKey(origin);
    const { rows } = await this.pool.query<TargetRow>({
      name: 'kouza_numbering_targets',
      text: TARGETS_SQL,
      values: [codes, name ?? '', subject.birthDate, key],
    });
    const subjectAddress = addressKey(subject.address);
    return Promise.all(rows.map((target) => this.applyAt(target, subject, subjectAddress, origin, key)));
  }

  private async applyAt(
    target: TargetRow,
    subject: NumberingSubject,
    subjectAddress: string,
    origin: NumberingOrigin,
    idempotencyKey: string,
  ): Promise<InstitutionNumberingResult> {
    const code = target.code;
    let accounts: AccountRef[];
    if (target.stored) {
      // Attached by an earlier run: kouza_attach replays that answer, whatever the
      // register says now.
      accounts = target.stored.linkages.map(({ branchCode, accountType, accountNumber }) => ({
        branchCode,
        accountType: accountType as AccountRef['accountType'],
        accountNumber,
      }));
    } else {
      if (!target.hasRegister) return { code, status: 'no-match', reason: 'no-register' };
      const customers = new Set(target.holders.filter((h) => addressKey(h.address) === subjectAddress).map((h) => h.customerNumber));
      if (customers.size === 0) return { code, status: 'no-match', reason: 'no-candidate' };
      if (customers.size > 1) return { code, status: 'ambiguous', reason: 'several-customers' };
      const [customer] = customers;
      accounts = target.holders
        .filter((h) => h.customerNumber === customer)
        .map(({ branchCode, accountType, accountNumber }) => ({ branchCode, accountType, accountNumber }));
    }

    const subjectId = randomUUID();
    const indexes = this.blindIndex.computeAll(subject.myNumber);
    const encrypted = await this.cipher.encrypt(subject.myNumber, {
      table: 'subjects',
      id: subjectId,
      institutionId: target.id,
      blindIndexVersion: indexes[0].version,
    });
    let outcome: AttachOutcome;
    try {
      outcome = await this.linkages.attach({
        institutionId: target.id,
        apiKeyId: null,
        requestId: origin.requestId,
        idempotencyKey,
        idempotencyTtlHours: this.config.IDEMPOTENCY_TTL_HOURS,
        // The same request at the same target always fingerprints the same; the
        // accounts are left out so that a re-run after a register change replays.
        fingerprints: this.idempotency.fingerprints('numbering.attach', {
          institutionCode: code,
          origin: { requestId: origin.requestId, nodeId: origin.nodeId, institutionCode: origin.institutionCode },
          subject: { myNumber: subject.myNumber, birthDate: subject.birthDate },
        }),
        subjectId,
        indexes,
        ciphertext: encrypted.ciphertext,
        dataKeyId: encrypted.dataKeyId,
        nameKana: normalizeKanaName(subject.nameKana)!,
        birthDate: subject.birthDate,
        attachmentId: randomUUID(),
        branchCode: origin.branchCode,
        operatorId: origin.operatorId,
        numberDocument: origin.numberDocument,
        identityDocument: origin.identityDocument,
        consentAt: origin.consentAt,
        accounts,
        numbering: {
          actorType: origin.nodeId === null ? 'institution' : 'peer',
          origin: {
            requestId: origin.requestId,
            nodeId: origin.nodeId,
            institutionCode: origin.institutionCode,
            branchCode: origin.branchCode,
            operatorId: origin.operatorId,
          },
        },
      });
    } catch (error) {
      // The function's raise undid everything, the idempotency claim included.
      if (error instanceof AttachRefusal) return { code, status: 'ambiguous', reason: REFUSAL_REASONS[error.code] };
      throw error;
    }
    if (!outcome.replayed && outcome.created > 0) this.metrics.linkagesCreated.inc({ institution: code }, outcome.created);
    return { code, status: 'attached', accounts: outcome.linkages.length };
  }
}

const REFUSAL_REASONS: Record<AttachRefusal['code'], NumberingReason> = {
  ACCOUNT_LINKED_TO_OTHER_SUBJECT: 'account-linked-to-other-subject',
  SUBJECT_BIRTH_DATE_MISMATCH: 'birth-date-mismatch',
  // Only a request id reused by its origin for another depositor can get here.
  IDEMPOTENCY_KEY_REUSED: 'request-id-reused',
};
