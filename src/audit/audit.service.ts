import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { AuditActor, AuditEvent } from './audit-event.js';
import { AuditRepository } from './audit.repository.js';

/**
 * Records actions on personal information. Callers pass their transaction so that an
 * action and its audit row commit together: there is no write without its record,
 * and no read is answered unless its record was written.
 */
@Injectable()
export class AuditService {
  constructor(private readonly audit: AuditRepository) {}

  record(executor: SqlExecutor, actor: AuditActor, ...events: AuditEvent[]): Promise<void> {
    return this.audit.append(executor, actor, events);
  }
}
