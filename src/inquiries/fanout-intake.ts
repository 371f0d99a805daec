import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor, AuditEvent } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { DomainError } from '../common/errors/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { MyNumberCipher } from '../crypto/my-number-cipher.js';
import { IdempotencyRepository } from '../idempotency/idempotency.repository.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { InquiryAdmission } from './fanout/inquiry-admission.js';
import { InquiriesRepository } from './inquiries.repository.js';
import type { NewInquiry } from './inquiries.repository.js';
import type { InquiryStatus } from './inquiry.types.js';

/** What a request puts on the fan-out's queue; the intake adds ids, keys and the sealed number. */
export type IntakeRow = Omit<
  NewInquiry,
  'id' | 'institutionId' | 'apiKeyId' | 'blindIndexVersion' | 'blindIndex' | 'ciphertext' | 'dataKeyId' | 'deadlineSeconds'
>;

export interface IntakeRequest {
  /** Names the route in the Idempotency-Key fingerprint. */
  route: string;
  /** The validated body, fingerprinted for Idempotency-Key. */
  dto: object;
  myNumber: string;
  idempotencyKey?: string;
  row: IntakeRow;
  /** The creation's audit row (its resource is the new request), given how many institutions it asks. */
  audit: (institutions: number) => Omit<AuditEvent, 'resourceId'>;
}

export interface Accepted {
  body: { id: string; status: InquiryStatus };
  replayed: boolean;
}

/**
 * How a request joins the fan-out, for location inquiries and numbering requests alike:
 * the number sealed and blind-indexed, then in one transaction the Idempotency-Key
 * claim, the row, the audit row and the stored answer; after the commit, a wake-up
 * for admission. The same key and body answer the first answer (`replayed`); the same
 * key with another body is refused.
 */
@Injectable()
export class FanoutIntake {
  constructor(
    private readonly db: DataSource,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly inquiries: InquiriesRepository,
    private readonly cipher: MyNumberCipher,
    private readonly blindIndex: BlindIndex,
    private readonly audit: AuditService,
    private readonly admission: InquiryAdmission,
    private readonly idempotency: IdempotencyService,
    private readonly idempotencyKeys: IdempotencyRepository,
  ) {}

  async accept(caller: InstitutionPrincipal, actor: AuditActor, request: IntakeRequest): Promise<Accepted> {
    const idempotencyKey = request.idempotencyKey === undefined ? undefined : this.idempotency.storedKey(request.route, request.idempotencyKey);
    const index = this.blindIndex.compute(request.myNumber);
    // The row's id, chosen here: the ciphertext is bound to it.
    const id = randomUUID();
    const encrypted = await this.cipher.encrypt(request.myNumber, {
      table: 'inquiries',
      id,
      institutionId: caller.institutionId,
      blindIndexVersion: index.version,
    });
    const fingerprints = idempotencyKey ? this.idempotency.fingerprints(request.route, request.dto) : [];
    const outcome = await this.db.transaction(async (tx): Promise<Accepted> => {
      if (idempotencyKey) {
        const claim = await this.idempotencyKeys.claim(
          tx,
          caller.institutionId,
          idempotencyKey,
          fingerprints,
          this.config.IDEMPOTENCY_TTL_HOURS,
        );
        if (claim.state === 'reused') {
          throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request');
        }
        if (claim.state === 'replay') return { body: claim.body as Accepted['body'], replayed: true };
      }
      const row = await this.inquiries.insert(tx, {
        ...request.row,
        id,
        institutionId: caller.institutionId,
        apiKeyId: caller.apiKeyId,
        blindIndexVersion: index.version,
        blindIndex: index.digest,
        ciphertext: encrypted.ciphertext,
        dataKeyId: encrypted.dataKeyId,
        deadlineSeconds: this.config.INQUIRY_DEADLINE_SECONDS,
      });
      await this.audit.record(tx, actor, { ...request.audit(row.institutions), resourceId: id });
      const body = { id: row.id, status: row.status };
      if (idempotencyKey) await this.idempotencyKeys.complete(tx, caller.institutionId, idempotencyKey, 202, body);
      return { body, replayed: false };
    });
    if (!outcome.replayed) await this.admission.request();
    return outcome;
  }

  /** The codes of `requested` (all known institutions when absent), sorted; an unknown one is refused. */
  async knownTargets(requested: string[] | undefined): Promise<string[]> {
    const known = await this.inquiries.knownCodes(requested ?? null);
    if (requested) {
      const knownSet = new Set(known);
      const unknown = requested.filter((code) => !knownSet.has(code));
      if (unknown.length > 0) {
        throw new DomainError('UNKNOWN_INSTITUTION', `Unknown institution code(s): ${unknown.join(', ')}`, { unknown });
      }
    }
    return known;
  }

  /** knownTargets, except that "every known institution" is null (the row's INSERT reads them). */
  async namedTargets(requested: string[] | undefined): Promise<string[] | null> {
    return requested ? this.knownTargets(requested) : null;
  }
}
