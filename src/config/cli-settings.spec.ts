import { describe, expect, it } from '@jest/globals';
import { loadConfig } from './app-config.js';
import { registerImportSettings } from './cli-settings.js';

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
