import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { DisastersModule } from '../disasters/disasters.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { FanoutIntake } from './fanout-intake.js';
import { InquiryAdmission } from './fanout/inquiry-admission.js';
import { InquiriesController } from './inquiries.controller.js';
import { InquiriesRepository } from './inquiries.repository.js';
import { InquiriesService } from './inquiries.service.js';

/** The API side of inquiries: accept, read, list. The fan-out lives in the worker. */
@Module({
  imports: [AuditModule, DisastersModule, IdempotencyModule, QueueModule],
  controllers: [InquiriesController],
  providers: [InquiriesRepository, InquiriesService, InquiryAdmission, FanoutIntake],
  // Numbering requests are rows of the same table, admitted by the same fan-out.
  exports: [InquiriesRepository, FanoutIntake],
})
export class InquiriesModule {}
