import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { AppConfig } from '../config/app-config.js';
import { DomainError, notFound } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { normalizeKanaName } from '../common/kana/kana-name.js';
import { maskMyNumber } from '../common/my-number/my-number.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { MyNumberCipher } from '../crypto/my-number-cipher.js';
import { IdempotencyRepository } from '../idempotency/idempotency.repository.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { CreateLinkageDto } from './dto/create-linkage.dto.js';
import type { FindLinkagesQuery } from './dto/find-linkages.query.js';
import type { RevokeLinkageDto } from './dto/revoke-linkage.dto.js';
import type { AttachmentView, LinkageView, SubjectView } from './dto/linkage.view.js';
import type { AccountRef } from './linkage.types.js';
import { AttachOutcome, AttachRefusal, LinkageRow, LinkagesRepository, LinkageWithSubject, SubjectRow } from './linkages.repository.js';
import { RegisterChecks } from './register-checks.js';

/** The refusals that come from the account register (not from the linkages themselves). */
/** The route an attachment's Idempotency-Key and fingerprint are scoped to. */
const ATTACH_ROUTE = 'POST /v1/linkages';

const REGISTER_REFUSALS = new Set([
  'ACCOUNT_NOT_IN_REGISTER',
  'ACCOUNT_CLOSED',
  'ACCOUNT_HOLDER_MISMATCH',
  'REGISTER_REQUIRED',
  'NO_ACCOUNTS_IN_REGISTER',
  'REGISTER_HOLDER_AMBIGUOUS',
]);

export interface CreateResult {
  status: number;
  body: AttachmentView;
  replayed: boolean;
}

@Injectable()
export class LinkagesService {
  constructor(
    private readonly db: DataSource,
    private readonly linkages: LinkagesRepository,
    private readonly blindIndex: BlindIndex,
    private readonly cipher: MyNumberCipher,
    private readonly idempotency: IdempotencyService,
    private readonly idempotencyRecords: IdempotencyRepository,
    private readonly register: RegisterChecks,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    @Inject(AppConfig) private readonly config: AppConfig,
  ) {}

  /**
   * Attaches the number to the accounts. The subject, the attachment record, the
   * linkages, the audit row and the idempotent answer are written by one database
   * call in one transaction: a refusal leaves nothing behind, a 201 means all of it
   * is committed.
   */
  async attach(
    caller: InstitutionPrincipal,
    dto: CreateLinkageDto,
    idempotencyKey: string | undefined,
    actor: AuditActor,
  ): Promise<CreateResult> {
    const { myNumber, birthDate } = dto.subject;
    const storedKey = idempotencyKey === undefined ? undefined : this.idempotency.storedKey(ATTACH_ROUTE, idempotencyKey);
    const accounts = await this.accountsToAttach(caller, dto, storedKey);
    // The subject's id and index version, chosen here: its ciphertext is bound to them.
    const subjectId = randomUUID();
    const indexes = this.blindIndex.computeAll(myNumber);
    const encrypted = await this.cipher.encrypt(myNumber, {
      table: 'subjects',
      id: subjectId,
      institutionId: caller.institutionId,
      blindIndexVersion: indexes[0].version,
    });
    let outcome: AttachOutcome;
    try {
      outcome = await this.linkages.attach({
        institutionId: caller.institutionId,
        apiKeyId: caller.apiKeyId,
        requestId: actor.requestId ?? '',
        idempotencyKey: storedKey,
        idempotencyTtlHours: this.config.IDEMPOTENCY_TTL_HOURS,
        fingerprints: storedKey ? this.idempotency.fingerprints(ATTACH_ROUTE, dto) : [],
        subjectId,
        indexes,
        ciphertext: encrypted.ciphertext,
        dataKeyId: encrypted.dataKeyId,
        nameKana: normalizeKanaName(dto.subject.nameKana)!,
        birthDate,
        attachmentId: randomUUID(),
        branchCode: dto.branchCode,
        operatorId: dto.operatorId,
        numberDocument: dto.verification.numberDocument,
        identityDocument: dto.verification.identityDocument,
        consentAt: dto.consentAt,
        accounts,
      });
    } catch (error) {
      if (error instanceof AttachRefusal) throw refusalToDomainError(error);
      throw error;
    }
    if (!outcome.replayed && outcome.created > 0) {
      this.metrics.linkagesCreated.inc({ institution: caller.institutionCode }, outcome.created);
    }
    const body: AttachmentView = {
      id: outcome.attachmentId,
      subject: { ...outcome.subject, myNumberMasked: maskMyNumber(myNumber) },
      linkages: outcome.linkages.map((l) => ({ ...l, createdAt: new Date(l.createdAt) })),
    };
    return { status: 201, body, replayed: outcome.replayed === true };
  }

  /**
   * The accounts to attach: as listed, checked against the institution's account
   * register when it has one, or, for `accounts: "all"`, resolved from it. A request
   * whose Idempotency-Key already has an answer replays it even if the register has
   * changed since (an account closed meanwhile): the register is looked at again only
   * to refuse.
   */
  private async accountsToAttach(
    caller: InstitutionPrincipal,
    dto: CreateLinkageDto,
    storedKey: string | undefined,
  ): Promise<AccountRef[]> {
    const all = dto.accounts === 'all';
    // Institutions without a register (the usual case so far) pay a cached look-up.
    if (!all && !(await this.register.hasRegister(caller.institutionId))) return dto.accounts as AccountRef[];
    try {
      if (!all) {
        await this.register.checkAccounts(caller.institutionId, dto.subject, dto.accounts as AccountRef[]);
        return dto.accounts as AccountRef[];
      }
      if (!(await this.register.hasRegister(caller.institutionId))) {
        throw new DomainError('REGISTER_REQUIRED', 'accounts: "all" needs an account register; this institution has none: list the accounts');
      }
      return await this.register.allAccounts(caller.institutionId, dto.subject);
    } catch (error) {
      if (!(error instanceof DomainError) || !REGISTER_REFUSALS.has(error.code) || !storedKey) throw error;
      const stored = (await this.idempotencyRecords.storedAnswer(caller.institutionId, storedKey)) as AttachOutcome | undefined;
      if (!stored) throw error;
      // kouza_attach replays the stored answer (or refuses a different body).
      return stored.linkages.map((l) => ({ branchCode: l.branchCode, accountType: l.accountType as AccountRef['accountType'], accountNumber: l.accountNumber }));
    }
  }

  async get(caller: InstitutionPrincipal, id: string, actor: AuditActor): Promise<LinkageView> {
    const row = isUuid(id) ? await this.linkages.findById(caller.institutionId, id) : undefined;
    if (!row) throw notFound('Linkage');
    const view = await this.linkageView(caller, row);
    await this.audit.record(this.db, actor, {
      action: 'linkage.read',
      resourceType: 'linkage',
      resourceId: row.id,
      subjectId: row.subjectId,
    });
    return view;
  }

  async find(caller: InstitutionPrincipal, query: FindLinkagesQuery, actor: AuditActor): Promise<LinkageView[]> {
    const rows = await this.linkages.findByAccount(caller.institutionId, query, query.status);
    const views = await Promise.all(rows.map((row) => this.linkageView(caller, row)));
    // One row per subject whose linkages were shown (or one saying nothing was found),
    // so that each depositor's access history lists this look-up.
    const subjects = [...new Set(rows.map((r) => r.subjectId))];
    const account = { branchCode: query.branchCode, accountType: query.accountType, accountNumber: query.accountNumber };
    await this.audit.record(
      this.db,
      actor,
      ...(subjects.length > 0
        ? subjects.map((subjectId) => ({
            action: 'linkage.find' as const,
            resourceType: 'account',
            subjectId,
            details: { account, linkageIds: rows.filter((r) => r.subjectId === subjectId).map((r) => r.id) },
          }))
        : [{ action: 'linkage.find' as const, resourceType: 'account', details: { account, linkageIds: [] } }]),
    );
    return views;
  }

  async revoke(caller: InstitutionPrincipal, id: string, dto: RevokeLinkageDto, actor: AuditActor): Promise<LinkageView> {
    if (!isUuid(id)) throw notFound('Linkage');
    await this.db.transaction(async (tx) => {
      const revoked = await this.linkages.revoke(tx, caller.institutionId, id, {
        reason: dto.reason,
        note: dto.note ?? null,
        operatorId: dto.operatorId,
        branchCode: dto.branchCode,
      });
      if (!revoked) {
        const current = await this.linkages.findById(caller.institutionId, id);
        if (!current) throw notFound('Linkage');
        throw new DomainError('LINKAGE_ALREADY_REVOKED');
      }
      await this.audit.record(tx, actor, {
        action: 'linkage.revoke',
        resourceType: 'linkage',
        resourceId: id,
        subjectId: revoked.subjectId,
        details: { reason: dto.reason },
      });
    });
    this.metrics.linkagesRevoked.inc({ institution: caller.institutionCode });
    const row = await this.linkages.findById(caller.institutionId, id);
    return this.linkageView(caller, row!);
  }

  private async linkageView(caller: InstitutionPrincipal, row: LinkageWithSubject): Promise<LinkageView> {
    return {
      ...linkedAccountView(row),
      attachmentId: row.attachmentId,
      subject: await this.subjectView(caller, row.subject),
      revocation:
        row.status === 'revoked'
          ? {
              reason: row.revocationReason!,
              note: row.revocationNote,
              branchCode: row.revokedAtBranch!,
              operatorId: row.revokedByOperator!,
              revokedAt: row.revokedAt!,
            }
          : null,
      holderDeceased: row.holderReportedDeceasedAt
        ? {
            reportedAt: row.holderReportedDeceasedAt,
            dateOfDeath: row.holderDateOfDeath,
            inquiryId: row.deceasedInquiryId,
            reportedByNode: row.deceasedReportedByNode,
            evidence: (row.deceasedEvidence ?? []).map((e) => ({ type: e.type, reference: e.reference })),
          }
        : null,
    };
  }

  private async subjectView(caller: InstitutionPrincipal, subject: SubjectRow): Promise<SubjectView> {
    // A ciphertext that is not this row's throws CiphertextMismatchError: the problem
    // filter answers RECORD_INTEGRITY_FAILED, and nothing of the row is shown.
    const myNumber = await this.cipher.decrypt(
      { dataKeyId: subject.dataKeyId, ciphertext: subject.ciphertext },
      { table: 'subjects', id: subject.id, institutionId: caller.institutionId, blindIndexVersion: subject.blindIndexVersion },
    );
    return { id: subject.id, myNumberMasked: maskMyNumber(myNumber), nameKana: subject.nameKana, birthDate: subject.birthDate };
  }
}

function refusalToDomainError(refusal: AttachRefusal): DomainError {
  switch (refusal.code) {
    case 'ACCOUNT_LINKED_TO_OTHER_SUBJECT': {
      const a = refusal.account!;
      return new DomainError(
        'ACCOUNT_LINKED_TO_OTHER_SUBJECT',
        `Account ${a.branchCode}-${a.accountType}-${a.accountNumber} is linked to a different My Number`,
        { account: a },
      );
    }
    case 'SUBJECT_BIRTH_DATE_MISMATCH':
      return new DomainError(
        'SUBJECT_BIRTH_DATE_MISMATCH',
        'This My Number is held at this institution with another birth date; check the number and the date',
      );
    case 'IDEMPOTENCY_KEY_REUSED':
      return new DomainError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request');
  }
}

function linkedAccountView(row: LinkageRow) {
  return {
    id: row.id,
    branchCode: row.branchCode,
    accountType: row.accountType,
    accountNumber: row.accountNumber,
    status: row.status,
    createdAt: row.createdAt,
  };
}
