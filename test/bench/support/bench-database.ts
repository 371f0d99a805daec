import 'reflect-metadata';
import pg from 'pg';
import { loadConfig } from '../../../src/config/app-config.js';
import { dropDatabase, ensureDatabase } from '../../../src/database/ensure-database.js';
import { migrate } from '../../../src/database/migrate.js';

export interface BenchDatabase {
  name: string;
  /** As the service connects (the app role). */
  url: string;
  /** As the migrations connect (the owner): for the benchmark's own set-up and counts. */
  ownerUrl: string;
  drop(): Promise<void>;
}

/**
 * A fresh database on the server of DATABASE_URL (or the service's default), with
 * the service's migrations applied by the service's own code.
 */
export async function createBenchDatabase(name: string): Promise<BenchDatabase> {
  const config = loadConfig(process.env);
  const named = (base: string) => {
    const url = new URL(base);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const databaseUrl = named(config.DATABASE_URL);
  const ownerUrl = named(config.migrationDatabaseUrl);
  // Never benchmark (and later drop) a database that someone else created.
  if (!(await ensureDatabase(ownerUrl))) throw new Error(`database ${name} already exists`);
  const database = { name, url: databaseUrl, ownerUrl, drop: () => dropDatabase(ownerUrl) };
  try {
    await migrate(loadConfig({ ...process.env, DATABASE_URL: databaseUrl, MIGRATION_DATABASE_URL: ownerUrl }));
  } catch (error) {
    await database.drop();
    throw error;
  }
  return database;
}

/**
 * A pg pool that survives its idle connections being cut: pool.end() resolves before
 * the server has closed them, so the final DROP DATABASE ... WITH (FORCE) can still
 * terminate one, and an unhandled pool 'error' would crash the run.
 */
export function openPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', (error) => {
    if (!pool.ending) process.stderr.write(`pg pool: ${error.message}\n`);
  });
  return pool;
}

/**
 * Every node answer of the inquiries in `$1` (uuid[]), with when it was written: rows of
 * inquiry_answers, and the entries of empty_answers (answers that listed nothing).
 */
export const ANSWERS_OF_INQUIRIES = `
  SELECT inquiry_id, node_id, answered_at FROM inquiry_answers WHERE inquiry_id = ANY ($1::uuid[])
  UNION ALL
  SELECT x.id, e.node_id, e.answered_at FROM empty_answers e
   CROSS JOIN LATERAL unnest(e.inquiry_ids) AS x(id)
   JOIN unnest($1::uuid[]) AS asked(id) ON asked.id = x.id
   WHERE e.inquiry_ids && $1::uuid[]`;
