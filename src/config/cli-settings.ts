/**
 * The settings the command-line tools read without loading the configuration's
 * validators (class-validator and class-transformer take 0.2 s to load; see
 * migrations-pending.ts). AppConfig takes its defaults from here, so both read the same.
 */
export const DEFAULT_DATABASE_URL = 'postgres://kouza_app@127.0.0.1:5432/kouza_hub';
/** The service's database role, created by the migrations (1764140000014-AuditAppRole). */
export const APP_DATABASE_ROLE = 'kouza_app';
/** The role that owns the schema on a local Postgres with trust authentication. */
const LOCAL_OWNER_ROLE = 'postgres';

/**
 * Where migrations connect when MIGRATION_DATABASE_URL is unset: with the app role's
 * URL and no password (the local trust-auth set-up), the same server and database as
 * the local owner `postgres`; otherwise the service's own URL (a single-role set-up).
 */
export function migrationDatabaseUrl(databaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return databaseUrl;
  }
  if (decodeURIComponent(url.username) !== APP_DATABASE_ROLE || url.password) return databaseUrl;
  url.username = LOCAL_OWNER_ROLE;
  return url.toString();
}
export const DEFAULT_REGISTER_IMPORT_MAX_ERRORS = 1000;
export const DEFAULT_REGISTER_REBUILD_PERCENT = 10;

/** What `npm run register:import` needs of the environment. */
export interface RegisterImportSettings {
  databaseUrl: string;
  maxErrors: number;
  rebuildPercent: number;
}

function integer(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new Error(`${key} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** The settings as AppConfig would read them (unset or empty: the default); throws on an invalid value. */
export function registerImportSettings(env: NodeJS.ProcessEnv): RegisterImportSettings {
  return {
    databaseUrl: env.DATABASE_URL || DEFAULT_DATABASE_URL,
    maxErrors: integer(env, 'REGISTER_IMPORT_MAX_ERRORS', DEFAULT_REGISTER_IMPORT_MAX_ERRORS, 1, 1_000_000),
    rebuildPercent: integer(env, 'REGISTER_REBUILD_PERCENT', DEFAULT_REGISTER_REBUILD_PERCENT, 0, 100),
  };
}
