import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { DisasterDeclarationsController } from './disaster-declarations.controller.js';
import { DisasterDeclarationsRepository } from './disaster-declarations.repository.js';
import { DisasterDeclarationsService } from './disaster-declarations.service.js';

@Module({
  imports: [AuditModule],
  controllers: [DisasterDeclarationsController],
  providers: [DisasterDeclarationsRepository, DisasterDeclarationsService],
  exports: [DisasterDeclarationsRepository],
})
export class DisastersModule {}
