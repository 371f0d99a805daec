import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { HostedNumbering } from '../numbering/hosted-numbering.js';
import { LinkagesController } from './linkages.controller.js';
import { LinkagesRepository } from './linkages.repository.js';
import { LinkagesService } from './linkages.service.js';
import { RegisterChecks } from './register-checks.js';

@Module({
  imports: [AuditModule, IdempotencyModule],
  controllers: [LinkagesController],
  // HostedNumbering attaches for numbering requests through the same repository.
  providers: [LinkagesRepository, LinkagesService, RegisterChecks, HostedNumbering],
  exports: [LinkagesRepository, HostedNumbering],
})
export class LinkagesModule {}
