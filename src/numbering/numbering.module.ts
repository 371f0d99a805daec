import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { InquiriesModule } from '../inquiries/inquiries.module.js';
import { NumberingRequestsController } from './numbering-requests.controller.js';
import { NumberingRequestsRepository } from './numbering-requests.repository.js';
import { NumberingRequestsService } from './numbering-requests.service.js';

/**
 * The API side of numbering requests: accept, read, list. The work is the inquiries'
 * fan-out in the worker; the matching and attaching at a hosted target is
 * HostedNumbering (LinkagesModule).
 */
@Module({
  imports: [AuditModule, IdempotencyModule, InquiriesModule],
  controllers: [NumberingRequestsController],
  providers: [NumberingRequestsRepository, NumberingRequestsService],
})
export class NumberingModule {}
