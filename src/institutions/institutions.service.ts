import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditAction, AuditActor, AuditEvent } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { apiKeyPrefix, generateApiKey, hashApiKey } from '../auth/api-key-format.js';
import { DomainError, notFound } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { INSTITUTION_CODE_TAKEN, pgErrorCode } from '../database/pg-errors.js';
import { ApiKeyCache } from './api-key-cache.js';
import { WebhookSecrets } from '../webhooks/webhook-secrets.js';
import { ApiKeyRecord, ApiKeysRepository } from './api-keys.repository.js';
import type { ApiKeyDto, CreateApiKeyDto, CreatedApiKeyDto } from './dto/api-key.dto.js';
import type { CreateInstitutionDto, InstitutionWithSecretDto } from './dto/institution.dto.js';
import { Institution, InstitutionsRepository } from './institutions.repository.js';

@Injectable()
export class InstitutionsService {
  constructor(
    private readonly db: DataSource,
    private readonly institutions: InstitutionsRepository,
    private readonly apiKeys: ApiKeysRepository,
    private readonly audit: AuditService,
    private readonly cache: ApiKeyCache,
    private readonly webhookSecrets: WebhookSecrets,
    @Inject(AppConfig) private readonly config: AppConfig,
  ) {}

  /** With a webhook URL, the answer carries its signing secret: the only time it is shown. */
  create(dto: CreateInstitutionDto, actor: AuditActor): Promise<InstitutionWithSecretDto> {
    return this.db.transaction(async (tx) => {
      const institution = await this.institutions.insert(tx, {
        id: randomUUID(),
        code: dto.code,
        name: dto.name,
        webhookUrl: dto.webhookUrl ?? null,
      });
      if (!institution) throw new DomainError('INSTITUTION_EXISTS', `Institution ${dto.code} already exists`);
      const webhookSecret = institution.webhookUrl ? await this.webhookSecrets.issue(tx, institution.id) : undefined;
      await this.audit.record(tx, actor, {
        action: 'institution.create',
        resourceType: 'institution',
        resourceId: institution.id,
        details: { code: institution.code },
      });
      return withSecret(institution, webhookSecret);
    }).catch((error: unknown) => {
      // The code is that of an institution behind a peer node.
      if (pgErrorCode(error) !== INSTITUTION_CODE_TAKEN) throw error;
      throw new DomainError('INSTITUTION_EXISTS', `Institution ${dto.code} already exists`);
    });
  }

  /**
   * Sets or changes the webhook URL. A new URL gets a new signing secret, answered
   * once; the same URL again changes nothing and answers no secret (rotating is a
   * separate, explicit act), except that it enables the webhook again if the receiver
   * had disabled it (410 Gone), keeping its secret.
   */
  async setWebhook(code: string, url: string, actor: AuditActor): Promise<InstitutionWithSecretDto> {
    const { id } = await this.get(code);
    return this.db.transaction(async (tx) => {
      const current = await this.institutions.lockForWebhookChange(tx, id);
      if (current.institution.webhookUrl === url && current.hasSecret) {
        if (!current.institution.webhookDisabledAt) return current.institution;
        const enabled = await this.institutions.setWebhookUrl(tx, id, url);
        await this.audit.record(tx, actor, webhookAuditEvent('webhook.configure', id, code));
        return enabled;
      }
      const institution = await this.institutions.setWebhookUrl(tx, id, url);
      const webhookSecret = await this.webhookSecrets.issue(tx, id);
      await this.audit.record(tx, actor, webhookAuditEvent('webhook.configure', id, code));
      return withSecret(institution, webhookSecret);
    });
  }

  /**
   * A new signing secret for the current URL, answered once; the old one keeps signing
   * next to it for WEBHOOK_SECRET_OVERLAP_SECONDS (the receiver switches meanwhile).
   */
  async rotateWebhookSecret(code: string, actor: AuditActor): Promise<InstitutionWithSecretDto> {
    const { id } = await this.get(code);
    return this.db.transaction(async (tx) => {
      const { institution } = await this.institutions.lockForWebhookChange(tx, id);
      if (!institution.webhookUrl) throw new DomainError('WEBHOOK_NOT_CONFIGURED', `Institution ${code} has no webhook URL`);
      const webhookSecret = await this.webhookSecrets.issue(tx, id, this.config.WEBHOOK_SECRET_OVERLAP_SECONDS);
      await this.audit.record(tx, actor, webhookAuditEvent('webhook.rotate-secret', id, code));
      return withSecret(institution, webhookSecret);
    });
  }

  /** Removes URL and secret; deliveries still pending then fail instead of being sent. */
  async removeWebhook(code: string, actor: AuditActor): Promise<void> {
    const { id } = await this.get(code);
    await this.db.transaction(async (tx) => {
      const current = await this.institutions.lockForWebhookChange(tx, id);
      if (!current.institution.webhookUrl && !current.hasSecret) return;
      await this.institutions.setWebhookUrl(tx, id, null);
      await this.audit.record(tx, actor, webhookAuditEvent('webhook.remove', id, code));
    });
  }

  list(): Promise<Institution[]> {
    return this.institutions.list();
  }

  async get(code: string): Promise<Institution> {
    const institution = await this.institutions.findByCode(code);
    if (!institution) throw notFound(`Institution ${code}`);
    return institution;
  }

  async createApiKey(code: string, dto: CreateApiKeyDto, actor: AuditActor): Promise<CreatedApiKeyDto> {
    const institution = await this.get(code);
    const key = generateApiKey();
    const record = await this.db.transaction(async (tx) => {
      const inserted = await this.apiKeys.insert(tx, {
        id: randomUUID(),
        institutionId: institution.id,
        name: dto.name,
        hash: hashApiKey(key),
        prefix: apiKeyPrefix(key),
        scopes: dto.scopes,
      });
      await this.audit.record(tx, actor, {
        action: 'api-key.create',
        resourceType: 'api-key',
        resourceId: inserted.id,
        details: { institutionCode: code, scopes: dto.scopes },
      });
      return inserted;
    });
    return { ...toApiKeyDto(record), key };
  }

  async listApiKeys(code: string): Promise<ApiKeyDto[]> {
    const institution = await this.get(code);
    return (await this.apiKeys.listForInstitution(institution.id)).map(toApiKeyDto);
  }

  async revokeApiKey(code: string, id: string, actor: AuditActor): Promise<ApiKeyDto> {
    const institution = await this.get(code);
    if (!isUuid(id) || !(await this.apiKeys.findForInstitution(institution.id, id))) throw notFound('API key');
    const revoked = await this.db.transaction(async (tx) => {
      const row = await this.apiKeys.revoke(tx, institution.id, id);
      if (!row) throw new DomainError('API_KEY_ALREADY_REVOKED');
      await this.audit.record(tx, actor, {
        action: 'api-key.revoke',
        resourceType: 'api-key',
        resourceId: id,
        details: { institutionCode: code },
      });
      return row;
    });
    // Other API processes drop it when the NOTIFY arrives; this one, before answering.
    this.cache.evict(id);
    return toApiKeyDto(revoked);
  }
}

function withSecret(institution: Institution, webhookSecret: string | undefined): InstitutionWithSecretDto {
  return webhookSecret ? { ...institution, webhookSecret } : institution;
}

function webhookAuditEvent(action: AuditAction, institutionId: string, code: string): AuditEvent {
  return { action, resourceType: 'institution', resourceId: institutionId, details: { code } };
}

function toApiKeyDto(record: ApiKeyRecord): ApiKeyDto {
  return {
    id: record.id,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    createdAt: record.createdAt,
    revokedAt: record.revokedAt,
  };
}
