import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { APP_DATABASE_ROLE } from '../config/cli-settings.js';
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
    await setAppRolePassword(dataSource, config);
    return applied.map((m) => m.name);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * The migrations create the service's role without a password (enough under local trust
 * authentication). When DATABASE_URL gives it one (a deployment with password
 * authentication, e.g. docker/compose.yaml), the owner sets it here, on every migrate:
 * one secret, in one place, and the two URLs cannot drift apart.
 */
async function setAppRolePassword(dataSource: DataSource, config: AppConfig): Promise<void> {
  let url: URL;
  try {
    url = new URL(config.DATABASE_URL);
  } catch {
    return;
  }
  if (decodeURIComponent(url.username) !== APP_DATABASE_ROLE || !url.password || config.DATABASE_URL === config.migrationDatabaseUrl) return;
  // ALTER ROLE takes no parameters: the literal is escaped (pg's escapeLiteral).
  await dataSource.query(`ALTER ROLE ${APP_DATABASE_ROLE} PASSWORD ${pg.escapeLiteral(decodeURIComponent(url.password))}`);
}
