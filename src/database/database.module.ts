import { DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { READ_DATABASE, ReadDatabase, replicaPool } from './read-database.js';

/** The pg pool under TypeORM's DataSource: one pool, two ways in. */
export const PG_POOL = Symbol('PG_POOL');

/**
 * TypeORM's DataSource (the primary) for migrations, transactions and most queries; its pg pool
 * directly for the hot paths, where named prepared statements (which TypeORM's
 * `query()` cannot issue) halve Postgres's work per call. READ_DATABASE serves the
 * reads that may be stale, from the read replica when DATABASE_READ_URL is set.
 */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(applicationName: string): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (config: AppConfig) => ({
            ...dataSourceOptions(config, applicationName),
            retryAttempts: 10,
            retryDelay: 2000,
          }),
        }),
      ],
      providers: [
        {
          provide: PG_POOL,
          inject: [DataSource],
          useFactory: (dataSource: DataSource): pg.Pool => (dataSource.driver as unknown as { master: pg.Pool }).master,
        },
        {
          // The stale-tolerant reads: the replica (DATABASE_READ_URL) if any, else the primary.
          provide: READ_DATABASE,
          inject: [DataSource, AppConfig],
          useFactory: (dataSource: DataSource, config: AppConfig): ReadDatabase =>
            new ReadDatabase(
              dataSource,
              config.DATABASE_READ_URL
                ? replicaPool(config.DATABASE_READ_URL, {
                    max: config.DATABASE_POOL_SIZE,
                    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
                    applicationName,
                  })
                : undefined,
            ),
        },
      ],
      exports: [PG_POOL, READ_DATABASE],
    };
  }
}
