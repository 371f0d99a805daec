import { Module } from '@nestjs/common';
import { AuditRepository } from './audit.repository.js';
import { AuditSealer } from './audit-sealer.js';
import { AuditService } from './audit.service.js';
import { AuditVerifier } from './audit-verifier.js';

/** The append-only audit trail: recording (API), sealing (worker), verifying (both). */
@Module({
  providers: [AuditRepository, AuditService, AuditSealer, AuditVerifier],
  exports: [AuditService, AuditSealer, AuditVerifier],
})
export class AuditModule {}
