import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { ensureDatabase } from './ensure-database.js';

/** Creates the database if missing and applies pending migrations; returns their names. */
export async function migrate(config: AppConfig): Promise<string[]> {
  await ensureDatabase(config.DATABASE_URL);
  const dataSource = new DataSource(dataSourceOptions(config, 'kouza-hub-migrate'));
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
