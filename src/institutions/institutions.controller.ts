import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { ApiKeyDto, ApiKeyListDto, ApiKeyParams, CreateApiKeyDto, CreatedApiKeyDto } from './dto/api-key.dto.js';
import {
  CreateInstitutionDto,
  InstitutionCodeParams,
  InstitutionDto,
  InstitutionListDto,
  InstitutionWithSecretDto,
  SetWebhookDto,
} from './dto/institution.dto.js';
import { InstitutionsService } from './institutions.service.js';

@ApiTags('institutions (operator)')
@ApiBearerAuth()
@Controller('v1/institutions')
export class InstitutionsController {
  constructor(private readonly institutions: InstitutionsService) {}

  @Post()
  @RequireScopes('admin:institutions')
  @ApiOperation({
    summary: 'Register a hosted institution',
    description: 'With `webhookUrl`, the answer carries the webhook signing secret (`webhookSecret`), shown this once.',
  })
  @ApiCreatedResponse({ type: InstitutionWithSecretDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'INSTITUTION_EXISTS', 'MALFORMED_JSON')
  create(
    @Body() dto: CreateInstitutionDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<InstitutionWithSecretDto> {
    return this.institutions.create(dto, auditActor(principal, request));
  }

  @Get()
  @RequireScopes('admin:institutions')
  @ApiOperation({ summary: 'List hosted institutions' })
  @ApiOkResponse({ type: InstitutionListDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE')
  async list(): Promise<InstitutionListDto> {
    return { items: await this.institutions.list() };
  }

  @Get(':code')
  @RequireScopes('admin:institutions')
  @ApiOperation({ summary: 'Read a hosted institution' })
  @ApiOkResponse({ type: InstitutionDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  get(@Param() params: InstitutionCodeParams): Promise<InstitutionDto> {
    return this.institutions.get(params.code);
  }

  @Put(':code/webhook')
  @RequireScopes('admin:institutions')
  @ApiOperation({
    summary: "Set or change an institution's webhook URL",
    description:
      'A new URL gets a new signing secret, answered once as `webhookSecret`; the same URL again changes nothing.',
  })
  @ApiOkResponse({ type: InstitutionWithSecretDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'NOT_FOUND', 'MALFORMED_JSON')
  setWebhook(
    @Param() params: InstitutionCodeParams,
    @Body() dto: SetWebhookDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<InstitutionWithSecretDto> {
    return this.institutions.setWebhook(params.code, dto.url, auditActor(principal, request));
  }

  @Post(':code/webhook/secret')
  @HttpCode(200)
  @RequireScopes('admin:institutions')
  @ApiOperation({
    operationId: 'rotateWebhookSecret',
    summary: "Rotate an institution's webhook signing secret",
    description:
      'The new secret is answered once as `webhookSecret` and signs every attempt from now on; the previous one ' +
      'keeps signing next to it (two signatures in `webhook-signature`) for WEBHOOK_SECRET_OVERLAP_SECONDS.',
  })
  @ApiOkResponse({ type: InstitutionWithSecretDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND', 'WEBHOOK_NOT_CONFIGURED', 'MALFORMED_JSON')
  rotateWebhookSecret(
    @Param() params: InstitutionCodeParams,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<InstitutionWithSecretDto> {
    return this.institutions.rotateWebhookSecret(params.code, auditActor(principal, request));
  }

  @Delete(':code/webhook')
  @HttpCode(204)
  @RequireScopes('admin:institutions')
  @ApiOperation({
    summary: "Remove an institution's webhook URL and secret",
    description: 'Deliveries not yet sent are then failed, not sent.',
  })
  @ApiNoContentResponse({ description: 'Removed (or there was none)' })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  removeWebhook(
    @Param() params: InstitutionCodeParams,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    return this.institutions.removeWebhook(params.code, auditActor(principal, request));
  }

  @Post(':code/api-keys')
  @RequireScopes('admin:api-keys')
  @ApiOperation({ summary: 'Issue an API key', description: 'The key is returned once and stored only as a hash.' })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'NOT_FOUND', 'MALFORMED_JSON')
  createApiKey(
    @Param() params: InstitutionCodeParams,
    @Body() dto: CreateApiKeyDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<CreatedApiKeyDto> {
    return this.institutions.createApiKey(params.code, dto, auditActor(principal, request));
  }

  @Get(':code/api-keys')
  @RequireScopes('admin:api-keys')
  @ApiOperation({ summary: "List an institution's API keys (never the secrets)" })
  @ApiOkResponse({ type: ApiKeyListDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  async listApiKeys(@Param() params: InstitutionCodeParams): Promise<ApiKeyListDto> {
    return { items: await this.institutions.listApiKeys(params.code) };
  }

  @Post(':code/api-keys/:id/revocation')
  @HttpCode(200)
  @RequireScopes('admin:api-keys')
  @ApiOperation({ operationId: 'revokeApiKey', summary: 'Revoke an API key', description: 'Refused from the next request on.' })
  @ApiOkResponse({ type: ApiKeyDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND', 'API_KEY_ALREADY_REVOKED', 'MALFORMED_JSON')
  revokeApiKey(
    @Param() params: ApiKeyParams,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<ApiKeyDto> {
    return this.institutions.revokeApiKey(params.code, params.id, auditActor(principal, request));
  }
}
