import { Module } from '@nestjs/common';
import { PeersModule } from '../peers/peers.module.js';
import { AuditModule } from './audit.module.js';
import { AuditCheckpoints } from './audit-checkpoints.service.js';
import { AuditWitnessRepository } from './audit-witness.repository.js';

/**
 * Checkpoints of the audit chain outside the database (the checkpoint log, the
 * witnesses) and this node as a witness. Apart from AuditModule, which PeersModule
 * imports: the witness protocol needs the peers.
 */
@Module({
  imports: [AuditModule, PeersModule],
  providers: [AuditCheckpoints, AuditWitnessRepository],
  exports: [AuditCheckpoints],
})
export class AuditCheckpointsModule {}
