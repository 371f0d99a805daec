import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { ApiKeyCache } from './api-key-cache.js';
import { ApiKeysRepository } from './api-keys.repository.js';
import { InstitutionsController } from './institutions.controller.js';
import { InstitutionsRepository } from './institutions.repository.js';
import { InstitutionsService } from './institutions.service.js';

@Module({
  imports: [AuditModule, WebhooksModule],
  controllers: [InstitutionsController],
  providers: [InstitutionsRepository, ApiKeysRepository, ApiKeyCache, InstitutionsService],
  exports: [ApiKeysRepository, ApiKeyCache, InstitutionsRepository],
})
export class InstitutionsModule {}
