import type { DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { MIGRATIONS } from './migrations.js';

/**
 * One definition of the connection, used by the API, the worker and the migration
 * command. The schema is owned by the reviewed SQL in migrations/: never synchronize.
 */
export function dataSourceOptions(config: AppConfig, applicationName: string): DataSourceOptions {
  return {
    type: 'postgres',
    url: config.DATABASE_URL,
    synchronize: false,
    migrationsRun: false,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    entities: [],
    logging: false,
    extra: {
      max: config.DATABASE_POOL_SIZE,
      connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      application_name: applicationName,
      // A statement that runs away is cut rather than holding a pooled connection.
      statement_timeout: 30_000,
      keepAlive: true,
    },
  };
}
