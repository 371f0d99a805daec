import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { RegisterImportsController } from './register-imports.controller.js';
import { RegisterImportsService } from './register-imports.service.js';

/** The API side of register imports: upload into the spool, enqueue, report. */
@Module({
  imports: [AuditModule, QueueModule],
  controllers: [RegisterImportsController],
  providers: [RegisterImportsService],
})
export class RegisterModule {}
