import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';

/**
 * At start-up: can the role the service connects as (DATABASE_URL) change or delete
 * audit rows, or alter the audit tables (it owns them, or is a superuser)? Then the
 * trail would not survive whoever holds the service's credentials: production refuses
 * to start, elsewhere the service warns. The cure is MIGRATION_DATABASE_URL for the
 * owner and DATABASE_URL for kouza_app.
 */
@Injectable()
export class AuditRoleCheck implements OnApplicationBootstrap {
  constructor(
    private readonly db: DataSource,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(AuditRoleCheck.name);
  }

  async onApplicationBootstrap(): Promise<void> {
    const [row]: Array<{ role: string; writable: boolean }> = await this.db.query(
      `SELECT current_user AS role,
              has_table_privilege('audit_events', 'UPDATE') OR has_table_privilege('audit_events', 'DELETE')
                OR has_table_privilege('audit_events', 'TRUNCATE') OR has_table_privilege('audit_chain', 'UPDATE')
                OR has_table_privilege('audit_chain', 'DELETE') OR has_table_privilege('audit_chain', 'TRUNCATE')
                OR pg_has_role((SELECT relowner FROM pg_class WHERE oid = 'audit_events'::regclass), 'USAGE') AS writable`,
    );
    if (!row.writable) return;
    const message =
      `The database role the service connects as (${row.role}) can change, delete or alter the audit trail: ` +
      'connect as kouza_app (DATABASE_URL) and migrate as the owner (MIGRATION_DATABASE_URL).';
    if (this.config.isProduction) throw new Error(message);
    this.logger.warn({ role: row.role }, message);
  }
}
