import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { HostedNumbering } from '../numbering/hosted-numbering.js';
import { DeceasedReportsRepository } from './deceased-reports.repository.js';
import { LinkagesRepository } from './linkages.repository.js';

/**
 * What writes linkages outside a teller's request, shared by the API and the worker
 * (no routes): the attachment's repository, numbering at hosted institutions (which
 * attaches through it) and the deceased report of inquiries and peer queries.
 */
@Module({
  imports: [IdempotencyModule],
  providers: [LinkagesRepository, HostedNumbering, DeceasedReportsRepository],
  exports: [LinkagesRepository, HostedNumbering, DeceasedReportsRepository],
})
export class LinkagesCoreModule {}
