import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { LinkagesCoreModule } from './linkages-core.module.js';
import { LinkagesController } from './linkages.controller.js';
import { LinkagesService } from './linkages.service.js';
import { RegisterChecks } from './register-checks.js';

/** The tellers' linkage routes (API only). */
@Module({
  imports: [AuditModule, IdempotencyModule, LinkagesCoreModule],
  controllers: [LinkagesController],
  providers: [LinkagesService, RegisterChecks],
})
export class LinkagesModule {}
