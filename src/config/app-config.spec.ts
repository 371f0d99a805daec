import { describe, expect, it } from '@jest/globals';
import { ConfigError, describeConfig, loadConfig } from './app-config.js';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('applies the defaults when the environment is empty', () => {
    const sut = loadConfig({});
    expect(sut.NODE_ENV).toBe('development');
    expect(sut.isProduction).toBe(false);
    expect(sut.PORT).toBe(3000);
    expect(sut.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(sut.INQUIRY_DEADLINE_SECONDS).toBe(120);
    expect(sut.DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(sut.ADMIN_API_KEY).toBeUndefined();
    expect(sut.MASTER_KEYS).toBeUndefined();
    expect(sut.BLIND_INDEX_ACTIVE_VERSION).toBeUndefined();
  });

  it('treats empty strings as unset', () => {
    const sut = loadConfig({ PORT: '', ADMIN_API_KEY: '', NODE_ENV: '' });
    expect(sut.PORT).toBe(3000);
    expect(sut.ADMIN_API_KEY).toBeUndefined();
    expect(sut.NODE_ENV).toBe('development');
  });

  it('parses numbers from strings', () => {
    const sut = loadConfig({
      PORT: '8080',
      INQUIRY_DEADLINE_SECONDS: '30',
      DATABASE_POOL_SIZE: '5',
      BLIND_INDEX_ACTIVE_VERSION: '2',
    });
    expect(sut.PORT).toBe(8080);
    expect(sut.INQUIRY_DEADLINE_SECONDS).toBe(30);
    expect(sut.DATABASE_POOL_SIZE).toBe(5);
    expect(sut.BLIND_INDEX_ACTIVE_VERSION).toBe(2);
  });

  it('every numeric setting can be set from the environment (a string), as its own default', () => {
    const defaults = loadConfig({}) as unknown as Record<string, unknown>;
    const numeric = Object.keys(defaults).filter((key) => typeof defaults[key] === 'number');
    expect(numeric).toEqual(expect.arrayContaining(['PORT', 'AUDIT_WITNESSES', 'PEER_CONCURRENCY']));
    for (const key of numeric) {
      const value = String(defaults[key]);
      expect([key, (loadConfig({ [key]: value }) as unknown as Record<string, unknown>)[key]]).toEqual([key, defaults[key]]);
    }
  });

  it('reads the values it is given', () => {
    const sut = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgresql://u:p@db:5432/x',
      REDIS_URL: 'rediss://cache:6380',
      ADMIN_API_KEY: 'a'.repeat(24),
    });
    expect(sut.isProduction).toBe(true);
    expect(sut.DATABASE_URL).toBe('postgresql://u:p@db:5432/x');
    expect(sut.REDIS_URL).toBe('rediss://cache:6380');
    expect(sut.ADMIN_API_KEY).toBe('a'.repeat(24));
  });

  it('reads a switch from true or false, and an optional port', () => {
    expect(loadConfig({}).QUEUE_DASHBOARD_ACTIONS).toBe(false);
    expect(loadConfig({ QUEUE_DASHBOARD_ACTIONS: 'true' }).QUEUE_DASHBOARD_ACTIONS).toBe(true);
    expect(loadConfig({ QUEUE_DASHBOARD_ACTIONS: 'false' }).QUEUE_DASHBOARD_ACTIONS).toBe(false);
    expect(loadConfig({}).OPS_PORT).toBeUndefined();
    expect(loadConfig({ OPS_PORT: '9100' }).OPS_PORT).toBe(9100);
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', SOMETHING_ELSE: 'x' })).not.toHaveProperty('SOMETHING_ELSE');
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'http://cache'],
    ['NODE_ENV', 'staging'],
    ['LOG_LEVEL', 'loud'],
    ['INQUIRY_DEADLINE_SECONDS', '0'],
    ['ADMIN_API_KEY', 'short-secret'],
    ['QUEUE_DASHBOARD_ACTIONS', 'yes'],
    ['QUEUE_DASHBOARD_ACTIONS', '1'],
    ['OPS_PORT', '0'],
    ['OPS_PORT', '70000'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) expect(problem).toContain(name);
  });

  it('lists every bad variable at once', () => {
    const error = configError({
      PORT: 'abc',
      DATABASE_URL: 'mysql://x',
      NODE_ENV: 'staging',
      ADMIN_API_KEY: 'short-secret',
    });
    for (const name of ['PORT', 'DATABASE_URL', 'NODE_ENV', 'ADMIN_API_KEY']) {
      expect(error.message).toContain(name);
    }
  });

  it.each([
    ['ADMIN_API_KEY', 'short-secret'],
    ['DATABASE_URL', 'mysql://root:hunter2@db/x'],
    ['REDIS_URL', 'http://:s3cr3t-pass@cache'],
  ])('never prints the value of the secret %s', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).not.toContain(value);
    expect(JSON.stringify(error.problems)).not.toContain(value);
  });
});

describe('describeConfig', () => {
  it('replaces secrets with [secret] and keeps the rest', () => {
    const secrets = {
      ADMIN_API_KEY: 'admin-key-0123456789abcdef',
      DATABASE_URL: 'postgres://u:db-password@db/x',
      REDIS_URL: 'redis://:redis-password@cache',
      MASTER_KEYS: 'm1:master-key-material',
      BLIND_INDEX_KEYS: '1:blind-index-key-material',
    };
    const sut = describeConfig(loadConfig({ ...secrets, PORT: '8080', MASTER_KEY_ACTIVE_ID: 'm1' }));

    for (const name of Object.keys(secrets)) expect(sut[name]).toBe('[secret]');
    const dump = JSON.stringify(sut);
    for (const value of Object.values(secrets)) expect(dump).not.toContain(value);
    expect(sut.PORT).toBe(8080);
    expect(sut.MASTER_KEY_ACTIVE_ID).toBe('m1');
    expect(sut.NODE_ENV).toBe('development');
  });

  it('leaves out what is not set', () => {
    expect(describeConfig(loadConfig({}))).not.toHaveProperty('ADMIN_API_KEY');
  });
});
