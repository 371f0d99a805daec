import { describe, expect, it } from '@jest/globals';
import { loadConfig } from './app-config.js';
import { migrationDatabaseUrl, registerImportSettings } from './cli-settings.js';

describe('registerImportSettings', () => {
  it('reads what AppConfig reads: the same defaults, the same values', () => {
    const config = loadConfig({});
    expect(registerImportSettings({})).toEqual({
      databaseUrl: config.DATABASE_URL,
      maxErrors: config.REGISTER_IMPORT_MAX_ERRORS,
      rebuildPercent: config.REGISTER_REBUILD_PERCENT,
    });
    const env = { DATABASE_URL: 'postgres://x@db:5432/y', REGISTER_IMPORT_MAX_ERRORS: '50', REGISTER_REBUILD_PERCENT: '0' };
    const set = loadConfig(env);
    expect(registerImportSettings(env)).toEqual({
      databaseUrl: set.DATABASE_URL,
      maxErrors: set.REGISTER_IMPORT_MAX_ERRORS,
      rebuildPercent: set.REGISTER_REBUILD_PERCENT,
    });
    expect(registerImportSettings({ DATABASE_URL: '', REGISTER_IMPORT_MAX_ERRORS: '' })).toEqual(registerImportSettings({}));
  });

  it('refuses what AppConfig refuses, naming the setting', () => {
    for (const [key, value] of [
      ['REGISTER_IMPORT_MAX_ERRORS', '0'],
      ['REGISTER_IMPORT_MAX_ERRORS', '1.5'],
      ['REGISTER_IMPORT_MAX_ERRORS', 'many'],
      ['REGISTER_REBUILD_PERCENT', '101'],
      ['REGISTER_REBUILD_PERCENT', '-1'],
    ]) {
      expect(() => registerImportSettings({ [key]: value })).toThrow(key);
      expect(() => loadConfig({ [key]: value })).toThrow(key);
    }
  });
});

describe('migrationDatabaseUrl (MIGRATION_DATABASE_URL unset)', () => {
  it('is the local owner for the app role under trust authentication, else the service URL itself', () => {
    expect(migrationDatabaseUrl('postgres://kouza_app@127.0.0.1:5432/kouza_hub')).toBe('postgres://postgres@127.0.0.1:5432/kouza_hub');
    expect(migrationDatabaseUrl('postgres://kouza_app:secret@db:5432/x')).toBe('postgres://kouza_app:secret@db:5432/x');
    expect(migrationDatabaseUrl('postgres://owner:pw@db/x')).toBe('postgres://owner:pw@db/x');
  });

  it('follows DATABASE_URL in AppConfig unless MIGRATION_DATABASE_URL is set', () => {
    expect(loadConfig({}).migrationDatabaseUrl).toBe('postgres://postgres@127.0.0.1:5432/kouza_hub');
    expect(loadConfig({ DATABASE_URL: 'postgres://kouza_app@h:1/d' }).migrationDatabaseUrl).toBe('postgres://postgres@h:1/d');
    expect(loadConfig({ DATABASE_URL: 'postgres://kouza_app@h:1/d', MIGRATION_DATABASE_URL: 'postgres://o@h:1/d' }).migrationDatabaseUrl).toBe('postgres://o@h:1/d');
  });
});
