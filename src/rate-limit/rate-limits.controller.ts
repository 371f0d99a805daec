import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { auditActor } from '../audit/audit-actor.js';
import { AuditService } from '../audit/audit.service.js';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { AppConfig } from '../config/app-config.js';
import { notFound } from '../common/errors/domain-error.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { InstitutionCodeParams } from '../institutions/dto/institution.dto.js';
import { InstitutionsRepository } from '../institutions/institutions.repository.js';
import { RateLimitDto, SetRateLimitDto } from './dto/rate-limit.dto.js';
import { RateLimiter } from './rate-limiter.js';
import { RateLimitsRepository } from './rate-limits.repository.js';
import type { RateLimit } from './token-bucket.js';

/**
 * An institution's own rate limit (per API key of the institution). Other API processes
 * see a change within RATE_LIMIT_CACHE_SECONDS.
 */
@ApiTags('institutions (operator)')
@ApiBearerAuth()
@Controller('v1/institutions/:code/rate-limit')
export class RateLimitsController {
  constructor(
    private readonly db: DataSource,
    private readonly institutions: InstitutionsRepository,
    private readonly repository: RateLimitsRepository,
    private readonly limiter: RateLimiter,
    private readonly audit: AuditService,
    @Inject(AppConfig) private readonly config: AppConfig,
  ) {}

  @Get()
  @RequireScopes('admin:institutions')
  @ApiOperation({ summary: "An institution's rate limit per API key (its own, or the defaults)" })
  @ApiOkResponse({ type: RateLimitDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND', 'RATE_LIMITED')
  async get(@Param() params: InstitutionCodeParams): Promise<RateLimitDto> {
    const institution = await this.institutions.findByCode(params.code);
    if (!institution) throw notFound(`Institution ${params.code}`);
    return this.view(params.code, await this.repository.find(institution.id));
  }

  @Put()
  @RequireScopes('admin:institutions')
  @ApiOperation({ summary: "Set an institution's own rate limit per API key" })
  @ApiOkResponse({ type: RateLimitDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'NOT_FOUND', 'MALFORMED_JSON', 'RATE_LIMITED')
  set(
    @Param() params: InstitutionCodeParams,
    @Body() dto: SetRateLimitDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<RateLimitDto> {
    return this.change(params.code, { perMinute: dto.requestsPerMinute, burst: dto.burst }, auditActor(principal, request));
  }

  @Delete()
  @HttpCode(204)
  @RequireScopes('admin:institutions')
  @ApiOperation({ summary: "Remove an institution's own rate limit (the defaults apply again)" })
  @ApiNoContentResponse({ description: 'Removed (or there was none)' })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND', 'RATE_LIMITED')
  async remove(
    @Param() params: InstitutionCodeParams,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.change(params.code, null, auditActor(principal, request));
  }

  private async change(code: string, limit: RateLimit | null, actor: ReturnType<typeof auditActor>): Promise<RateLimitDto> {
    const institution = await this.institutions.findByCode(code);
    if (!institution) throw notFound(`Institution ${code}`);
    await this.db.transaction(async (tx) => {
      await this.repository.set(tx, institution.id, limit);
      await this.audit.record(tx, actor, {
        action: 'institution.rate-limit',
        resourceType: 'institution',
        resourceId: institution.id,
        details: { code, requestsPerMinute: limit?.perMinute ?? null, burst: limit?.burst ?? null },
      });
    });
    this.limiter.forget(institution.id);
    return this.view(code, limit);
  }

  private view(code: string, own: RateLimit | null): RateLimitDto {
    const limit = own ?? { perMinute: this.config.RATE_LIMIT_PER_MINUTE, burst: this.config.RATE_LIMIT_BURST };
    return { institutionCode: code, requestsPerMinute: limit.perMinute, burst: limit.burst, source: own ? 'institution' : 'default' };
  }
}
