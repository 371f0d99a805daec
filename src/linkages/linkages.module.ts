import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { LinkagesController } from './linkages.controller.js';
import { LinkagesRepository } from './linkages.repository.js';
import { LinkagesService } from './linkages.service.js';

@Module({
  imports: [AuditModule, IdempotencyModule],
  controllers: [LinkagesController],
  providers: [LinkagesRepository, LinkagesService],
  exports: [LinkagesRepository],
})
export class LinkagesModule {}
