import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../../../src/config/app-config.js';
import { dropDatabase } from '../../../src/database/ensure-database.js';
import { migrate } from '../../../src/database/migrate.js';

export const POSTGRES_SERVER_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
/** The same server as the service's own role (created by the migrations), as `npm start` connects. */
export const APP_SERVER_URL = process.env.TEST_APP_POSTGRES_URL ?? 'postgres://kouza_app@127.0.0.1:5432';

export interface TestDatabase {
  /** As the service connects (DATABASE_URL): the restricted role kouza_app. */
  url: string;
  /** As the migrations connect (MIGRATION_DATABASE_URL): the schema's owner. */
  ownerUrl: string;
  name: string;
  /** A direct connection as the owner, for looking at what the service wrote (and for playing the insider). */
  pool: pg.Pool;
  /** The rows of one statement on that connection. */
  query(sql: string, params?: unknown[]): Promise<any[]>;
  drop(): Promise<void>;
}

/**
 * A fresh database per test file, migrated exactly as `npm start` does: as the owner,
 * for a service that connects as its restricted role.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `kouza_e2e_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = `${APP_SERVER_URL}/${name}`;
  const ownerUrl = `${POSTGRES_SERVER_URL}/${name}`;
  await migrate(loadConfig({ DATABASE_URL: url, MIGRATION_DATABASE_URL: ownerUrl }));
  const pool = new pg.Pool({ connectionString: ownerUrl, max: 4 });
  // pool.end() resolves before its connections have closed, so the DROP ... FORCE that
  // follows can terminate one still closing: that error is expected, not a failure.
  pool.on('error', () => undefined);
  return {
    url,
    ownerUrl,
    name,
    pool,
    query: async (sql, params) => (await pool.query(sql, params)).rows,
    async drop() {
      await pool.end();
      await dropDatabase(ownerUrl);
    },
  };
}

/**
 * Row counts of the tables a linkage write touches: taken before and after a request
 * that must write nothing (a refusal, a replay), so that a half-written one shows.
 */
export async function linkageWriteCounts(database: TestDatabase): Promise<Record<string, number>> {
  const [row] = await database.query(
    `SELECT (SELECT count(*) FROM subjects)::int AS subjects, (SELECT count(*) FROM attachments)::int AS attachments,
            (SELECT count(*) FROM linkages)::int AS linkages, (SELECT count(*) FROM audit_events)::int AS audit,
            (SELECT count(*) FROM idempotency_keys)::int AS idempotency`,
  );
  return row;
}
