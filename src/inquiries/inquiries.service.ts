import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { DomainError, notFound, ValidationFailed } from '../common/errors/domain-error.js';
import type { FieldError } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { READ_DATABASE, ReadDatabase } from '../database/read-database.js';
import { normalizeKanaName } from '../common/kana/kana-name.js';
import { normalizeMunicipalityCode } from '../common/municipality/municipality-code.js';
import { todayInJapan } from '../common/validation/validators.js';
import { DisasterDeclarationsRepository } from '../disasters/disaster-declarations.repository.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { CreateInquiryDto } from './dto/create-inquiry.dto.js';
import type { AcceptedInquiryView, InquiryView } from './dto/inquiry.view.js';
import { FanoutIntake } from './fanout-intake.js';
import { InquiriesRepository } from './inquiries.repository.js';
import type { InquiryRecord } from './inquiries.repository.js';
import { DEATH_EVIDENCE, DISASTER_EVIDENCE, DISASTER_RELATIONSHIPS, INHERITANCE_RELATIONSHIPS, PRIORITY } from './inquiry.types.js';
import type { InquiryStatus } from './inquiry.types.js';

@Injectable()
export class InquiriesService {
  constructor(
    private readonly db: DataSource,
    private readonly inquiries: InquiriesRepository,
    private readonly declarations: DisasterDeclarationsRepository,
    private readonly intake: FanoutIntake,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    @Inject(READ_DATABASE) private readonly reads: ReadDatabase,
  ) {}

  /**
   * Accepts an inquiry: a committed row first, then a wake-up for the fan-out. With an
   * Idempotency-Key, the same key and body answer the first answer (`replayed`), and
   * the same key with another body is refused.
   */
  async create(
    caller: InstitutionPrincipal,
    dto: CreateInquiryDto,
    actor: AuditActor,
    idempotencyKey?: string,
  ): Promise<{ body: AcceptedInquiryView; replayed: boolean }> {
    checkKindRules(dto);
    const municipalityCode = dto.subject.municipalityCode ? normalizeMunicipalityCode(dto.subject.municipalityCode) : null;
    let declarationId: string | null = null;
    if (dto.kind === 'disaster') {
      const declaration = await this.declarations.findActiveCovering(municipalityCode!, dto.declarationId);
      if (!declaration) {
        throw new DomainError(
          'NO_ACTIVE_DISASTER_DECLARATION',
          dto.declarationId
            ? 'The named declaration is not in force or does not cover the municipality'
            : 'No disaster declaration in force covers the municipality',
        );
      }
      declarationId = declaration.id;
    }
    const targetCodes = await this.intake.namedTargets(dto.targetInstitutions);
    const accepted = await this.intake.accept(caller, actor, {
      route: 'POST /v1/inquiries',
      dto,
      myNumber: dto.subject.myNumber,
      idempotencyKey,
      row: {
        kind: dto.kind,
        priority: PRIORITY[dto.kind],
        branchCode: dto.branchCode,
        operatorId: dto.operatorId,
        nameKana: normalizeKanaName(dto.subject.nameKana)!,
        birthDate: dto.subject.birthDate,
        dateOfDeath: dto.kind === 'inheritance' ? dto.subject.dateOfDeath! : null,
        municipalityCode,
        applicantRelationship: dto.applicant.relationship,
        applicantName: dto.applicant.name,
        evidence: dto.evidence.map((e) => ({ type: e.type, reference: e.reference })),
        declarationId,
        targetCodes,
        targetsAll: !dto.targetInstitutions,
      },
      audit: (institutions) => ({
        action: 'inquiry.create',
        resourceType: 'inquiry',
        details: { kind: dto.kind, institutions, declarationId },
      }),
    });
    // A replay created nothing. A jump of this per institution is KouzaInquiryVolumeJump.
    if (!accepted.replayed) this.metrics.inquiriesCreated.inc({ institution: caller.institutionCode, kind: dto.kind });
    return accepted;
  }

  async get(caller: InstitutionPrincipal, id: string, actor: AuditActor): Promise<InquiryView> {
    // A status view, from the read replica if any; an inquiry it does not have yet (accepted
    // a moment ago, not yet replayed there) is looked up again on the primary.
    const found = isUuid(id)
      ? await this.reads.read(
          async (db) => {
            const record = await this.inquiries.find(caller.institutionId, id, undefined, db);
            return record && { record, results: await this.inquiries.results(id, db) };
          },
          (view) => view === undefined,
        )
      : undefined;
    if (!found) throw notFound('Inquiry');
    const { record, results } = found;
    // Reading where a person holds accounts is an access to personal information.
    await this.audit.record(this.db, actor, { action: 'inquiry.read', resourceType: 'inquiry', resourceId: id });
    const answered = results.filter((r) => r.status === 'found' || r.status === 'not-found').length;
    const failed = results.filter((r) => r.status === 'unreachable').length;
    return {
      ...record,
      progress: { total: results.length, answered, failed },
      results: results.map((r) => ({ ...r, accounts: r.accounts.map(copyAccount) })),
    };
  }

  list(caller: InstitutionPrincipal, limit: number, status?: InquiryStatus): Promise<InquiryRecord[]> {
    return this.reads.read((db) => this.inquiries.list(caller.institutionId, limit, status, undefined, db));
  }
}

function copyAccount(a: { branchCode: string; accountType: string; accountNumber: string }) {
  return { branchCode: a.branchCode, accountType: a.accountType, accountNumber: a.accountNumber };
}

const KIND_RULES = {
  inheritance: { relationships: INHERITANCE_RELATIONSHIPS, evidence: DEATH_EVIDENCE },
  disaster: { relationships: DISASTER_RELATIONSHIPS, evidence: DISASTER_EVIDENCE },
} as const;

/** The rules that depend on the kind of inquiry, reported like any other field error. */
function checkKindRules(dto: CreateInquiryDto): void {
  const errors: FieldError[] = [];
  const subject = dto.subject;
  const rules = KIND_RULES[dto.kind];
  const label = `for ${dto.kind === 'inheritance' ? 'an inheritance' : 'a disaster'} inquiry`;
  if (!(rules.relationships as readonly string[]).includes(dto.applicant.relationship)) {
    const message = `relationship must be one of ${rules.relationships.join(', ')} ${label}`;
    errors.push({ path: 'applicant.relationship', code: 'INVALID_VALUE', message });
  }
  dto.evidence.forEach((e, i) => {
    if (!(rules.evidence as readonly string[]).includes(e.type)) {
      const message = `type must be one of ${rules.evidence.join(', ')} ${label}`;
      errors.push({ path: `evidence[${i}].type`, code: 'INVALID_VALUE', message });
    }
  });
  if (dto.kind === 'inheritance') {
    if (!subject.dateOfDeath) {
      errors.push({ path: 'subject.dateOfDeath', code: 'REQUIRED', message: `dateOfDeath is required ${label}` });
    } else if (subject.dateOfDeath > todayInJapan()) {
      errors.push({ path: 'subject.dateOfDeath', code: 'DATE_IN_FUTURE', message: 'dateOfDeath must not be in the future' });
    } else if (subject.dateOfDeath < subject.birthDate) {
      errors.push({ path: 'subject.dateOfDeath', code: 'INVALID_VALUE', message: 'dateOfDeath must not be before birthDate' });
    }
    if (dto.evidence.length === 0) {
      errors.push({ path: 'evidence', code: 'TOO_FEW', message: `at least one death-evidence document is required ${label}` });
    }
  } else {
    if (!subject.municipalityCode) {
      errors.push({ path: 'subject.municipalityCode', code: 'REQUIRED', message: `municipalityCode is required ${label}` });
    }
    if (subject.dateOfDeath) {
      errors.push({ path: 'subject.dateOfDeath', code: 'INVALID_VALUE', message: 'a disaster inquiry is made by the living depositor' });
    }
  }
  if (errors.length > 0) throw new ValidationFailed(errors);
}
