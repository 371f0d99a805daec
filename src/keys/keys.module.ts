import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { KeyRotationsController } from './key-rotations.controller.js';
import { KeyRotationsService } from './key-rotations.service.js';

/** The API side of key rotations: start one, follow its progress. */
@Module({
  imports: [AuditModule, QueueModule],
  controllers: [KeyRotationsController],
  providers: [KeyRotationsService],
})
export class KeysModule {}
