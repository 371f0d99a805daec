import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { InstitutionsModule } from '../institutions/institutions.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { ApiKeyGuard } from './api-key.guard.js';

@Module({
  imports: [InstitutionsModule, RateLimitModule],
  providers: [{ provide: APP_GUARD, useClass: ApiKeyGuard }],
})
export class AuthModule {}
