import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import request from 'supertest';
import { AppConfig, loadConfig } from '../../../src/config/app-config.js';
import { generateNodeKeyMaterial, loadKeyMaterial } from '../../../src/crypto/key-material.js';
import { createHttpApp } from '../../../src/http/create-http-app.js';
import { redisKeyBase } from '../../../src/queue/queues.js';
import { createRedisClient, masters, type RedisClient } from '../../../src/redis/redis-client.js';
import { WorkerModule } from '../../../src/worker/worker.module.js';
import { contractCheckedRequest } from './contract.js';
import { LogCapture } from './log-capture.js';
import { createTestDatabase, TestDatabase } from './test-database.js';

export const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';

export interface TestInstitution {
  id: string;
  code: string;
  key: string;
  auth: { Authorization: string };
}

export interface TestApp {
  app: NestFastifyApplication;
  http: ReturnType<typeof request>;
  config: AppConfig;
  db: TestDatabase;
  logs: LogCapture;
  env: Record<string, string>;
  admin: { Authorization: string };
  createInstitution(code: string, scopes?: string[]): Promise<TestInstitution>;
  startWorker(): Promise<INestApplicationContext>;
  close(): Promise<void>;
}

const ALL_SCOPES = ['linkages:write', 'linkages:read', 'inquiries:write', 'inquiries:read', 'history:read'];

/** Fresh keys for one test app: each app is a node of its own (its own id and node keys). */
export function testKeysEnv(): Record<string, string> {
  const node = generateNodeKeyMaterial(`node-${randomBytes(4).toString('hex')}`);
  return {
    MASTER_KEYS: `test-master-1:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEYS: `1:${randomBytes(32).toString('base64')}`,
    NODE_ID: node.nodeId,
    NODE_SIGNING_KEY: JSON.stringify(node.signingPrivateJwk),
    NODE_ENCRYPTION_KEY: JSON.stringify(node.encryptionPrivateJwk),
    AUDIT_CHAIN_KEY: randomBytes(32).toString('base64'),
  };
}

/**
 * The real HTTP app on a fresh database, with the real Redis (own queue prefix),
 * logs captured. `env` overrides configuration (e.g. a proxied DATABASE_URL).
 */
export async function startTestApp(options: { env?: Record<string, string>; database?: TestDatabase } = {}): Promise<TestApp> {
  const db = options.database ?? (await createTestDatabase());
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    // The service as its restricted role, the migrations (a CLI's, a start's) as the owner.
    DATABASE_URL: db.url,
    MIGRATION_DATABASE_URL: db.ownerUrl,
    // A checkpoint log of this app's own (each app is a node of its own).
    AUDIT_CHECKPOINT_FILE: join(tmpdir(), `kouza-e2e-checkpoints-${db.name}-${randomBytes(3).toString('hex')}.jsonl`),
    ADMIN_API_KEY: ADMIN_KEY,
    QUEUE_PREFIX: `{e2e-${db.name}}`,
    LOG_LEVEL: 'info',
    AUDIT_SEAL_INTERVAL_MS: '100',
    // Test files run in parallel: no fixed worker metrics port, and limits no ordinary test reaches.
    WORKER_METRICS_PORT: '0',
    RATE_LIMIT_PER_MINUTE: '600000',
    RATE_LIMIT_BURST: '100000',
    ADMIN_RATE_LIMIT_PER_MINUTE: '600000',
    ADMIN_RATE_LIMIT_BURST: '100000',
    ...testKeysEnv(),
    ...options.env,
  };
  const config = loadConfig(env);
  const keys = loadKeyMaterial(config, () => undefined);
  const logs = new LogCapture();
  const app = await createHttpApp({ config, keys, logDestination: logs });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  // Every answer is checked against the committed OpenAPI document (support/contract.ts).
  const http = contractCheckedRequest(request(app.getHttpServer()));
  const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
  const workers: INestApplicationContext[] = [];

  return {
    app,
    http,
    config,
    db,
    logs,
    env,
    admin,
    async createInstitution(code, scopes = ALL_SCOPES) {
      const created = await http.post('/v1/institutions').set(admin).send({ code, name: `Bank ${code}` }).expect(201);
      const key = await http.post(`/v1/institutions/${code}/api-keys`).set(admin).send({ name: 'teller', scopes }).expect(201);
      return { id: created.body.id, code, key: key.body.key, auth: { Authorization: `Bearer ${key.body.key}` } };
    },
    async startWorker() {
      // As src/worker.ts starts it. Not `logger: false`: Nest's logger is one per process,
      // and turning it off here would silence what the API logs through it (its errors).
      const worker = await NestFactory.createApplicationContext(WorkerModule.register({ config, keys, logDestination: logs }), {
        bufferLogs: true,
      });
      worker.useLogger(worker.get(Logger));
      await worker.init();
      workers.push(worker);
      return worker;
    },
    async close() {
      for (const worker of workers) await worker.close();
      await app.close();
      if (!options.database) await db.drop();
      rmSync(config.AUDIT_CHECKPOINT_FILE, { force: true });
      await deleteRedisKeys(config);
    },
  };
}

/** The SCAN/KEYS pattern of every queue key of this config (all families' hash tags). */
export function queueKeysPattern(config: Pick<AppConfig, 'QUEUE_PREFIX'>): string {
  return `{${redisKeyBase(config.QUEUE_PREFIX)}:*`;
}

/** A connected client of this config's Redis (a Cluster's slot map loaded). */
export async function connectRedis(config: Pick<AppConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>): Promise<RedisClient> {
  const redis = createRedisClient(config, { lazyConnect: true });
  await redis.connect();
  return redis;
}

/** Every key matching `pattern`, on every master of a cluster. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** Removes what a test's queues left in Redis (scheduled jobs, their history), on every master. */
async function deleteRedisKeys(config: AppConfig): Promise<void> {
  const redis = await connectRedis(config);
  try {
    // One key per DEL: on a cluster, keys of a call must share a slot.
    for (const key of await scanKeys(redis, queueKeysPattern(config))) await redis.del(key);
  } finally {
    redis.disconnect();
  }
}

/** A valid attachment request; `overrides` replace top-level fields. */
export function linkageBody(myNumber: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    branchCode: '001',
    operatorId: 'T0042',
    subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01' },
    accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }],
    verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' },
    consentAt: new Date(Date.now() - 60_000).toISOString(),
    ...overrides,
  };
}

export async function eventually<T>(fn: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
