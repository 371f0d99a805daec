import { DataSource, type DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { ensureDatabase } from './ensure-database.js';

/**
 * Creates the database if missing and applies pending migrations; returns their names.
 * Both as the schema's owner (MIGRATION_DATABASE_URL), never as the service's role.
 */
export async function migrate(config: AppConfig): Promise<string[]> {
  const url = config.migrationDatabaseUrl;
  await ensureDatabase(url);
  const dataSource = new DataSource({ ...dataSourceOptions(config, 'kouza-hub-migrate'), url } as DataSourceOptions);
  await dataSource.initialize();
  try {
    // One migrator at a time, when several replicas start together.
    await dataSource.query(`SELECT pg_advisory_lock(hashtext('kouza:migrations'))`);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await dataSource.destroy();
  }
}
