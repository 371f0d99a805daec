import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { ApiKeysRepository } from './api-keys.repository.js';
import { InstitutionsController } from './institutions.controller.js';
import { InstitutionsRepository } from './institutions.repository.js';
import { InstitutionsService } from './institutions.service.js';

@Module({
  imports: [AuditModule],
  controllers: [InstitutionsController],
  providers: [InstitutionsRepository, ApiKeysRepository, InstitutionsService],
  exports: [ApiKeysRepository, InstitutionsRepository],
})
export class InstitutionsModule {}
