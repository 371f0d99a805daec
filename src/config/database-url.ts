/**
 * DATABASE_URL's default, in a module of its own: the command-line tools read it
 * without loading the configuration's validators (see migrations-pending.ts).
 */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/kouza_hub';

/** DATABASE_URL as the configuration would read it (unset or empty: the default). */
export function databaseUrlFrom(env: NodeJS.ProcessEnv): string {
  return env.DATABASE_URL || DEFAULT_DATABASE_URL;
}
