import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { DomainError, notFound } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { normalizeKanaName } from '../common/kana/kana-name.js';
import { maskMyNumber } from '../common/my-number/my-number.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { MyNumberCipher } from '../crypto/my-number-cipher.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { CreateLinkageDto } from './dto/create-linkage.dto.js';
import type { FindLinkagesQuery } from './dto/find-linkages.query.js';
import type { RevokeLinkageDto } from './dto/revoke-linkage.dto.js';
import type { AttachmentView, LinkageView, SubjectView } from './dto/linkage.view.js';
import { accountKey, AccountRef } from './linkage.types.js';
import { LinkageRow, LinkagesRepository, LinkageWithSubject, SubjectRow } from './linkages.repository.js';

export interface CreateResult {
  status: number;
  body: AttachmentView;
  replayed: boolean;
}

/** Accounts that were neither inserted nor found may have been revoked meanwhile: retry. */
const MAX_LINK_ATTEMPTS = 3;

@Injectable()
export class LinkagesService {
  constructor(
    private readonly db: DataSource,
    private readonly linkages: LinkagesRepository,
    private readonly blindIndex: BlindIndex,
    private readonly cipher: MyNumberCipher,
    private readonly idempotency: IdempotencyService,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Attaches the number to the accounts: one transaction for the subject, the
   * attachment record, the linkages, the audit row and the idempotency answer, so an
   * error leaves nothing behind and a 201 means all of it is committed.
   */
  async attach(
    caller: InstitutionPrincipal,
    dto: CreateLinkageDto,
    idempotencyKey: string | undefined,
    actor: AuditActor,
  ): Promise<CreateResult> {
    const { myNumber, birthDate } = dto.subject;
    const nameKana = normalizeKanaName(dto.subject.nameKana)!;
    const indexes = this.blindIndex.computeAll(myNumber);
    const encrypted = await this.cipher.encrypt(myNumber, caller.institutionId);
    const myNumberMasked = maskMyNumber(myNumber);

    let createdCount = 0;
    const result = await this.db.transaction(async (tx): Promise<CreateResult> => {
      if (idempotencyKey) {
        const outcome = await this.idempotency.begin(tx, caller.institutionId, idempotencyKey, 'POST /v1/linkages', dto);
        if (outcome.kind === 'replay') {
          return { status: outcome.status, body: outcome.body as AttachmentView, replayed: true };
        }
      }
      const subject = await this.findOrCreateSubject(tx, caller.institutionId, indexes, {
        dataKeyId: encrypted.dataKeyId,
        ciphertext: encrypted.ciphertext,
        nameKana,
        birthDate,
      });
      if (subject.birthDate !== birthDate) {
        throw new DomainError(
          'SUBJECT_BIRTH_DATE_MISMATCH',
          'This My Number is held at this institution with another birth date; check the number and the date',
        );
      }
      const nameChanged = subject.nameKana !== nameKana;
      if (nameChanged) await this.linkages.updateSubjectName(tx, subject.id, nameKana);

      const attachmentId = randomUUID();
      const { created, existing } = await this.link(tx, caller, subject.id, attachmentId, dto);
      const byAccount = new Map<string, { row: LinkageRow; alreadyLinked: boolean }>();
      for (const row of created) byAccount.set(accountKey(row as AccountRef), { row, alreadyLinked: false });
      for (const row of existing) byAccount.set(accountKey(row as AccountRef), { row, alreadyLinked: true });

      await this.audit.record(tx, actor, {
        action: 'linkage.attach',
        resourceType: 'attachment',
        resourceId: attachmentId,
        subjectId: subject.id,
        details: {
          linkageIds: [...byAccount.values()].map((v) => v.row.id),
          created: created.length,
          alreadyLinked: existing.length,
          numberDocument: dto.verification.numberDocument,
          identityDocument: dto.verification.identityDocument,
          nameChanged,
        },
      });

      const body: AttachmentView = {
        id: attachmentId,
        subject: { id: subject.id, myNumberMasked, nameKana, birthDate },
        linkages: dto.accounts.map((account) => {
          const { row, alreadyLinked } = byAccount.get(accountKey(account))!;
          return { ...linkedAccountView(row), alreadyLinked };
        }),
      };
      if (idempotencyKey) await this.idempotency.complete(tx, caller.institutionId, idempotencyKey, 201, body);
      createdCount = created.length;
      return { status: 201, body, replayed: false };
    });
    // Counted once committed.
    if (createdCount > 0) this.metrics.linkagesCreated.inc({ institution: caller.institutionCode }, createdCount);
    return result;
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

  private async findOrCreateSubject(
    tx: EntityManager,
    institutionId: string,
    indexes: ReturnType<BlindIndex['computeAll']>,
    fields: { dataKeyId: string; ciphertext: Buffer; nameKana: string; birthDate: string },
  ): Promise<SubjectRow> {
    // With one key version (no rotation under way) the insert alone finds or creates.
    if (indexes.length > 1) {
      const found = await this.linkages.findSubject(tx, institutionId, indexes);
      if (found) return found;
    }
    return this.linkages.insertSubject(tx, { id: randomUUID(), institutionId, index: indexes[0], ...fields });
  }

  /** Inserts the linkages that are new; the others must already belong to this subject. */
  private async link(
    tx: EntityManager,
    caller: InstitutionPrincipal,
    subjectId: string,
    attachmentId: string,
    dto: CreateLinkageDto,
  ): Promise<{ created: LinkageRow[]; existing: LinkageRow[] }> {
    const created = await this.linkages.insertAttachmentAndLinkages(
      tx,
      {
        id: attachmentId,
        institutionId: caller.institutionId,
        subjectId,
        branchCode: dto.branchCode,
        operatorId: dto.operatorId,
        apiKeyId: caller.apiKeyId,
        numberDocument: dto.verification.numberDocument,
        identityDocument: dto.verification.identityDocument,
        consentAt: dto.consentAt,
      },
      dto.accounts.map(() => randomUUID()),
      dto.accounts,
    );
    if (created.length === dto.accounts.length) return { created, existing: [] };

    const createdKeys = new Set(created.map((r) => accountKey(r as AccountRef)));
    let pending = dto.accounts.filter((a) => !createdKeys.has(accountKey(a)));
    const existing: LinkageRow[] = [];
    for (let attempt = 1; pending.length > 0; attempt++) {
      const found = await this.linkages.findActiveByAccounts(tx, caller.institutionId, pending);
      const conflict = found.find((row) => row.subjectId !== subjectId);
      if (conflict) {
        throw new DomainError(
          'ACCOUNT_LINKED_TO_OTHER_SUBJECT',
          `Account ${conflict.branchCode}-${conflict.accountType}-${conflict.accountNumber} is linked to a different My Number`,
          { account: { branchCode: conflict.branchCode, accountType: conflict.accountType, accountNumber: conflict.accountNumber } },
        );
      }
      existing.push(...found);
      const foundKeys = new Set(found.map((r) => accountKey(r as AccountRef)));
      pending = pending.filter((a) => !foundKeys.has(accountKey(a)));
      if (pending.length === 0) break;
      if (attempt >= MAX_LINK_ATTEMPTS) throw new Error('accounts neither linkable nor linked after retries');
      // The conflicting linkage was revoked between our insert and our look-up.
      created.push(
        ...(await this.linkages.insertLinkages(
          tx,
          { institutionId: caller.institutionId, subjectId, attachmentId },
          pending.map(() => randomUUID()),
          pending,
        )),
      );
      const nowCreated = new Set(created.map((r) => accountKey(r as AccountRef)));
      pending = pending.filter((a) => !nowCreated.has(accountKey(a)));
    }
    return { created, existing };
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
    };
  }

  private async subjectView(caller: InstitutionPrincipal, subject: SubjectRow): Promise<SubjectView> {
    const myNumber = await this.cipher.decrypt({ dataKeyId: subject.dataKeyId, ciphertext: subject.ciphertext }, caller.institutionId);
    return { id: subject.id, myNumberMasked: maskMyNumber(myNumber), nameKana: subject.nameKana, birthDate: subject.birthDate };
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
