import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { DomainError, notFound } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { normalizeKanaName } from '../common/kana/kana-name.js';
import { AppConfig } from '../config/app-config.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { MyNumberCipher } from '../crypto/my-number-cipher.js';
import { IdempotencyRepository } from '../idempotency/idempotency.repository.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { InquiryAdmission } from '../inquiries/fanout/inquiry-admission.js';
import { InquiriesRepository } from '../inquiries/inquiries.repository.js';
import type { InquiryRecord } from '../inquiries/inquiries.repository.js';
import { PRIORITY } from '../inquiries/inquiry.types.js';
import type { InquiryStatus } from '../inquiries/inquiry.types.js';
import type { CreateNumberingRequestDto } from './dto/create-numbering-request.dto.js';
import type { AcceptedNumberingRequestView, NumberingRequestView, NumberingTargetView } from './dto/numbering-request.view.js';
import { NumberingRequestsRepository } from './numbering-requests.repository.js';

const NUMBERING: readonly ['numbering'] = ['numbering'];

/**
 * Numbering at other institutions (他行付番). A request is a row of `inquiries` with
 * kind `numbering`: it is admitted, fanned out, retried, timed out, reconciled,
 * announced and retained exactly as a location inquiry is (src/inquiries/fanout); only
 * the work of its jobs differs (FanoutService asks HostedNumbering and sends
 * numbering-notices to peers).
 */
@Injectable()
export class NumberingRequestsService {
  constructor(
    private readonly db: DataSource,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly inquiries: InquiriesRepository,
    private readonly numbering: NumberingRequestsRepository,
    private readonly cipher: MyNumberCipher,
    private readonly blindIndex: BlindIndex,
    private readonly audit: AuditService,
    private readonly admission: InquiryAdmission,
    private readonly idempotency: IdempotencyService,
    private readonly idempotencyKeys: IdempotencyRepository,
  ) {}

  async create(
    caller: InstitutionPrincipal,
    dto: CreateNumberingRequestDto,
    actor: AuditActor,
    idempotencyKey?: string,
  ): Promise<{ body: AcceptedNumberingRequestView; replayed: boolean }> {
    const targetCodes = await this.resolveTargets(caller, dto.targetInstitutions);
    const myNumber = dto.subject.myNumber;
    const encrypted = await this.cipher.encrypt(myNumber, caller.institutionId);
    const index = this.blindIndex.compute(myNumber);
    const id = randomUUID();
    const fingerprints = idempotencyKey ? this.idempotency.fingerprints('POST /v1/numbering-requests', dto) : [];
    const outcome = await this.db.transaction(async (tx) => {
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
        if (claim.state === 'replay') return { body: claim.body as AcceptedNumberingRequestView, replayed: true };
      }
      const row = await this.inquiries.insert(tx, {
        id,
        institutionId: caller.institutionId,
        apiKeyId: caller.apiKeyId,
        kind: 'numbering',
        priority: PRIORITY.numbering,
        branchCode: dto.branchCode,
        operatorId: dto.operatorId,
        blindIndexVersion: index.version,
        blindIndex: index.digest,
        ciphertext: encrypted.ciphertext,
        dataKeyId: encrypted.dataKeyId,
        nameKana: normalizeKanaName(dto.subject.nameKana)!,
        birthDate: dto.subject.birthDate,
        dateOfDeath: null,
        municipalityCode: null,
        applicantRelationship: null,
        applicantName: null,
        evidence: [],
        declarationId: null,
        targetCodes,
        // Always explicit: "all" here means all but the requester, which the fan-out's
        // targets_all fast path (every known institution) would include.
        targetsAll: false,
        deadlineSeconds: this.config.INQUIRY_DEADLINE_SECONDS,
        numbering: {
          address: dto.subject.address,
          postalCode: dto.subject.postalCode ? dto.subject.postalCode.replace('-', '') : null,
          numberDocument: dto.verification.numberDocument,
          identityDocument: dto.verification.identityDocument,
          consentAt: dto.consentAt,
        },
      });
      await this.audit.record(tx, actor, {
        action: 'numbering.create',
        resourceType: 'numbering-request',
        resourceId: id,
        details: { institutions: targetCodes.length, all: !dto.targetInstitutions },
      });
      const body: AcceptedNumberingRequestView = { id: row.id, status: row.status };
      if (idempotencyKey) await this.idempotencyKeys.complete(tx, caller.institutionId, idempotencyKey, 202, body);
      return { body, replayed: false };
    });
    if (!outcome.replayed) await this.admission.request();
    return outcome;
  }

  async get(caller: InstitutionPrincipal, id: string, actor: AuditActor): Promise<NumberingRequestView> {
    const record = isUuid(id) ? await this.inquiries.find(caller.institutionId, id, NUMBERING) : undefined;
    if (!record) throw notFound('Numbering request');
    const rows = await this.numbering.results(id);
    // What became of a person's number at other institutions is personal information.
    await this.audit.record(this.db, actor, { action: 'numbering.read', resourceType: 'numbering-request', resourceId: id });
    const results = rows.map((r): NumberingTargetView => ({
      institutionCode: r.institutionCode,
      institutionName: r.institutionName,
      status: r.status,
      ...(r.accounts === null ? {} : { accounts: r.accounts }),
      ...(r.reason === null ? {} : { reason: r.reason }),
    }));
    const failed = results.filter((r) => r.status === 'unreachable').length;
    const answered = results.filter((r) => r.status !== 'unreachable' && r.status !== 'pending').length;
    return {
      id: record.id,
      status: record.status,
      branchCode: record.branchCode,
      progress: { total: results.length, answered, failed },
      results,
      createdAt: record.createdAt,
      deadlineAt: record.deadlineAt,
      completedAt: record.completedAt,
    };
  }

  async list(caller: InstitutionPrincipal, limit: number, status?: InquiryStatus) {
    const rows: InquiryRecord[] = await this.inquiries.list(caller.institutionId, limit, status, NUMBERING);
    return rows.map((r) => ({ id: r.id, status: r.status, createdAt: r.createdAt, completedAt: r.completedAt }));
  }

  /** Every known institution but the requester, or those named (never the requester, all known). */
  private async resolveTargets(caller: InstitutionPrincipal, requested: string[] | undefined): Promise<string[]> {
    const own = caller.institutionCode;
    if (requested?.includes(own)) {
      throw new DomainError('TARGET_IS_REQUESTER', `targetInstitutions names the requesting institution ${own}`, {
        institution: own,
      });
    }
    const known = await this.inquiries.knownCodes(requested ?? null);
    if (requested) {
      const knownSet = new Set(known);
      const unknown = requested.filter((code) => !knownSet.has(code));
      if (unknown.length > 0) {
        throw new DomainError('UNKNOWN_INSTITUTION', `Unknown institution code(s): ${unknown.join(', ')}`, { unknown });
      }
    }
    const targets = known.filter((code) => code !== own);
    if (targets.length === 0) throw new DomainError('NO_TARGET_INSTITUTION', 'No other institution is known to this node');
    return targets;
  }
}
