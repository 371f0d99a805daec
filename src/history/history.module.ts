import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AccessHistoryController } from './access-history.controller.js';
import { AccessHistoryRepository } from './access-history.repository.js';
import { AccessHistoryService } from './access-history.service.js';

/** POST /v1/access-history: the depositor's record of accesses to their number. */
@Module({
  imports: [AuditModule],
  controllers: [AccessHistoryController],
  providers: [AccessHistoryRepository, AccessHistoryService],
})
export class HistoryModule {}
