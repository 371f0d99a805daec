import { Module } from '@nestjs/common';
import { AuditRepository } from './audit.repository.js';
import { AuditRoleCheck } from './audit-role-check.js';
import { AuditSealer } from './audit-sealer.js';
import { AuditService } from './audit.service.js';
import { AuditVerifier } from './audit-verifier.js';

/** The append-only audit trail: recording (API), sealing (worker), verifying (both). */
@Module({
  providers: [AuditRepository, AuditService, AuditSealer, AuditVerifier, AuditRoleCheck],
  exports: [AuditService, AuditSealer, AuditVerifier],
})
export class AuditModule {}
