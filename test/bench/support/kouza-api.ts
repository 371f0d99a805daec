import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerNodeOptions } from '../../../src/worker/worker-node-options.js';
import { loadConfig } from '../../../src/config/app-config.js';
import { cleanup } from './cleanup.js';
import { REPO_ROOT } from './report.js';
import { benchPortBase, findFreePort, postJson, startProcess, startService, type ChildService, type ServiceProcess } from './service-process.js';

export interface BenchApi {
  process: ServiceProcess;
  adminKey: string;
  /** DATABASE_POOL_SIZE as the API resolved it, for baselines of the same size. */
  poolSize: number;
  processes: number;
  nodeArgs: string[];
  /** The API's environment: a worker of the same deployment starts from it. */
  env: NodeJS.ProcessEnv;
}

/**
 * The API as `npm run start:api` runs it (dist/src/main.js), on a port from 3900 on
 * (or `portFrom`),
 * with a random admin key and development keys in a temp file. LOG_LEVEL=warn: at
 * info, one log line per request would dominate the measurement. Extra node flags
 * (e.g. --cpu-prof) come from BENCH_API_NODE_ARGS. Stopped by the cleanup.
 */
export async function startBenchApi(
  databaseUrl: string,
  extraEnv: NodeJS.ProcessEnv = {},
  options: { portFrom?: number } = {},
): Promise<BenchApi> {
  const tmp = mkdtempSync(join(tmpdir(), 'kouza-bench-'));
  cleanup.add('remove the temp directory', () => rmSync(tmp, { recursive: true, force: true }));
  const adminKey = randomBytes(24).toString('base64url');
  const port = await findFreePort(options.portFrom ?? benchPortBase());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development', // generated keys (KEYS_FILE) are refused in production
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_API_KEY: adminKey,
    LOG_LEVEL: 'warn',
    // Sized for the machine, as an operator would: one API process per core, and few
    // connections each, so that Postgres backends do not crowd the API off the CPUs.
    API_PROCESSES: process.env.API_PROCESSES ?? String(availableParallelism()),
    DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE ?? '4',
    KEYS_FILE: join(tmp, 'keys.json'),
    // Rate limits stay on (their Redis round trip is part of what is measured) but far
    // above what the bench sends; BENCH env may lower them.
    RATE_LIMIT_PER_MINUTE: process.env.RATE_LIMIT_PER_MINUTE ?? '1000000',
    RATE_LIMIT_BURST: process.env.RATE_LIMIT_BURST ?? '1000000',
    ADMIN_RATE_LIMIT_PER_MINUTE: process.env.ADMIN_RATE_LIMIT_PER_MINUTE ?? '1000000',
    ADMIN_RATE_LIMIT_BURST: process.env.ADMIN_RATE_LIMIT_BURST ?? '1000000',
    ...extraEnv,
  };
  const nodeArgs = process.env.BENCH_API_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const api = await startService({ label: 'api', script: join(REPO_ROOT, 'dist/src/main.js'), env, port, nodeArgs });
  cleanup.add('stop the API', () => api.stop());
  const config = loadConfig(env);
  return { process: api, adminKey, poolSize: config.DATABASE_POOL_SIZE, processes: config.API_PROCESSES, nodeArgs, env };
}

export interface BenchWorker {
  process: ChildService;
  poolSize: number;
}

/**
 * The worker as `npm run start:worker` runs it (dist/src/worker.js, WORKER_NODE_OPTIONS), with the API's
 * environment (same database, Redis, queue prefix and keys file) but two changes:
 * the database pool as the service defaults it (the API's small bench pool is sized
 * for API processes per core; the worker is one process), unless DATABASE_POOL_SIZE
 * is set; and LOG_LEVEL=info, since the worker logs nothing per job at info and its
 * start is known from its "worker started" line. Stopped by the cleanup.
 */
export async function startBenchWorker(api: BenchApi): Promise<BenchWorker> {
  const env: NodeJS.ProcessEnv = { ...api.env, LOG_LEVEL: 'info', NODE_OPTIONS: workerNodeOptions(api.env.NODE_OPTIONS) };
  if (process.env.DATABASE_POOL_SIZE === undefined) delete env.DATABASE_POOL_SIZE;
  // As start:worker runs it (WORKER_NODE_OPTIONS in NODE_OPTIONS); the bench's own flags, on the command line, win.
  const nodeArgs = process.env.BENCH_WORKER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const worker = await startProcess({ label: 'worker', script: join(REPO_ROOT, 'dist/src/worker.js'), env, nodeArgs, readyLine: 'worker started' });
  cleanup.add('stop the worker', () => worker.stop());
  return { process: worker, poolSize: loadConfig(env).DATABASE_POOL_SIZE };
}

/** Registers an institution and returns a new API key of it with `scopes`. */
export async function createInstitutionKey(api: BenchApi, code: string, scopes: string[]): Promise<string> {
  const base = api.process.baseUrl;
  await postJson(`${base}/v1/institutions`, { code, name: `Bench ${code}` }, api.adminKey);
  const { key } = await postJson<{ key: string }>(`${base}/v1/institutions/${code}/api-keys`, { name: 'bench', scopes }, api.adminKey);
  return key;
}
