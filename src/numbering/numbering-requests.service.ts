import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { DomainError, notFound } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { READ_DATABASE, ReadDatabase } from '../database/read-database.js';
import { normalizeKanaName } from '../common/kana/kana-name.js';
import { FanoutIntake } from '../inquiries/fanout-intake.js';
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
    private readonly inquiries: InquiriesRepository,
    private readonly numbering: NumberingRequestsRepository,
    private readonly intake: FanoutIntake,
    private readonly audit: AuditService,
    @Inject(READ_DATABASE) private readonly reads: ReadDatabase,
  ) {}

  async create(
    caller: InstitutionPrincipal,
    dto: CreateNumberingRequestDto,
    actor: AuditActor,
    idempotencyKey?: string,
  ): Promise<{ body: AcceptedNumberingRequestView; replayed: boolean }> {
    const targetCodes = await this.resolveTargets(caller, dto.targetInstitutions);
    return this.intake.accept(caller, actor, {
      route: 'POST /v1/numbering-requests',
      dto,
      myNumber: dto.subject.myNumber,
      idempotencyKey,
      row: {
        kind: 'numbering',
        priority: PRIORITY.numbering,
        branchCode: dto.branchCode,
        operatorId: dto.operatorId,
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
        numbering: {
          address: dto.subject.address,
          postalCode: dto.subject.postalCode ? dto.subject.postalCode.replace('-', '') : null,
          numberDocument: dto.verification.numberDocument,
          identityDocument: dto.verification.identityDocument,
          consentAt: dto.consentAt,
        },
      },
      audit: (institutions) => ({
        action: 'numbering.create',
        resourceType: 'numbering-request',
        details: { institutions, all: !dto.targetInstitutions },
      }),
    });
  }

  async get(caller: InstitutionPrincipal, id: string, actor: AuditActor): Promise<NumberingRequestView> {
    // A status view, from the read replica if any; a request it does not have yet (created
    // a moment ago) is looked up again on the primary.
    const found = isUuid(id)
      ? await this.reads.read(
          async (db) => {
            const record = await this.inquiries.find(caller.institutionId, id, NUMBERING, db);
            return record && { record, rows: await this.numbering.results(id, db) };
          },
          (view) => view === undefined,
        )
      : undefined;
    if (!found) throw notFound('Numbering request');
    const { record, rows } = found;
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
    const rows: InquiryRecord[] = await this.reads.read((db) => this.inquiries.list(caller.institutionId, limit, status, NUMBERING, db));
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
    const known = await this.intake.knownTargets(requested);
    const targets = known.filter((code) => code !== own);
    if (targets.length === 0) throw new DomainError('NO_TARGET_INSTITUTION', 'No other institution is known to this node');
    return targets;
  }
}
