/**
 * The settings the command-line tools read without loading the configuration's
 * validators (class-validator and class-transformer take 0.2 s to load; see
 * migrations-pending.ts). AppConfig takes its defaults from here, so both read the same.
 */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/kouza_hub';
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
