import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { InstitutionsModule } from '../institutions/institutions.module.js';
import { RateLimiter } from './rate-limiter.js';
import { RateLimitsController } from './rate-limits.controller.js';
import { RateLimitsRepository } from './rate-limits.repository.js';

/** Per-key rate limits (applied by ApiKeyGuard) and the operator's per-institution settings. */
@Module({
  imports: [AuditModule, InstitutionsModule],
  controllers: [RateLimitsController],
  providers: [RateLimiter, RateLimitsRepository],
  exports: [RateLimiter],
})
export class RateLimitModule {}
