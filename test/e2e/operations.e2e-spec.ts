import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ERROR_CATALOGUE } from '../../src/common/errors/error-codes.js';
import { dropDatabase } from '../../src/database/ensure-database.js';
import { validMyNumber } from './support/my-numbers.js';
import { APP_SERVER_URL, POSTGRES_SERVER_URL } from './support/test-database.js';
import { linkageBody, startTestApp, testKeysEnv, TestApp, TestInstitution } from './support/test-app.js';

/**
 * What an operator relies on: health and metrics endpoints, an OpenAPI document that
 * matches the routes, configuration refused at start-up with a clear message (by the
 * built processes, as production runs them), and `npm start` bringing up and stopping
 * the whole service on an empty machine.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dist = (script: string) => join(REPO_ROOT, 'dist/src', script);

function requireBuilt(script: string): string {
  const path = dist(script);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: these tests run the built service; run \`npm run build\` first`);
  }
  return path;
}

// ---------------------------------------------------------------------------
// Child processes: every one started here is tracked and killed in afterAll.
// ---------------------------------------------------------------------------

const started = new Set<ChildProcess>();

interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A minimal environment: nothing of the developer's shell (or Jest's NODE_OPTIONS) leaks in. */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra };
}

/** Runs a built entry point to completion; kills it and fails if it outlives `timeoutMs`. */
function runToExit(script: string, env: Record<string, string>, timeoutMs = 20_000): Promise<Exited> {
  const path = requireBuilt(script);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path], { env: baseEnv(env), cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${script} did not exit within ${timeoutMs} ms; a bad configuration must stop the process before it connects anywhere.\n` +
            `stdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      started.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Direct children of a process, from /proc (Linux). */
function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: `${POSTGRES_SERVER_URL}/postgres` });
  await client.connect();
  try {
    return Boolean((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount);
  } finally {
    await client.end();
  }
}

const uniqueName = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

// ---------------------------------------------------------------------------
// Prometheus text helpers
// ---------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}

// ---------------------------------------------------------------------------

describe('operations: health, metrics, OpenAPI', () => {
  let t: TestApp;
  let inst: TestInstitution;

  beforeAll(async () => {
    t = await startTestApp();
    inst = await t.createInstitution('0001');
  });
  afterAll(() => t?.close());

  describe('health', () => {
    it('GET /health → 200 with database and redis up', async () => {
      const res = await t.http.get('/health').expect(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.info).toMatchObject({ database: { status: 'up' }, redis: { status: 'up' } });
    });

    it('GET /health/live → 200', async () => {
      const res = await t.http.get('/health/live').expect(200);
      expect(res.body).toEqual({ status: 'ok' });
    });
  });

  describe('metrics', () => {
    const scrape = async () => {
      const res = await t.http.get('/metrics').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      return { text: res.text, samples: parseSamples(res.text) };
    };
    const createdTotal = async () => sum((await scrape()).samples, 'kouza_linkages_created_total');
    const account = (accountNumber: string) => ({ branchCode: '001', accountType: 'ordinary', accountNumber });
    const newlyCreated = (body: { linkages: Array<{ alreadyLinked: boolean }> }) => body.linkages.filter((l) => !l.alreadyLinked).length;

    it('counts HTTP requests and their durations by route template, never by raw URL', async () => {
      const created = await t.http.post('/v1/linkages').set(inst.auth).send(linkageBody(validMyNumber(90_001), { accounts: [account('9000001')] })).expect(201);
      const id: string = created.body.linkages[0].id;
      await t.http.get(`/v1/linkages/${id}`).set(inst.auth).expect(200);
      const unknown = `/v1/no-such-route-${randomBytes(4).toString('hex')}`;
      await t.http.get(unknown).expect(404);

      const { text, samples } = await scrape();
      expect(text).toContain('# TYPE kouza_http_requests_total counter');
      expect(text).toContain('# TYPE kouza_http_request_duration_seconds histogram');
      expect(sum(samples, 'kouza_http_requests_total', { method: 'POST', route: '/v1/linkages', status: '201' })).toBeGreaterThanOrEqual(1);
      expect(sum(samples, 'kouza_http_requests_total', { method: 'GET', route: '/v1/linkages/:id', status: '200' })).toBeGreaterThanOrEqual(1);
      expect(sum(samples, 'kouza_http_request_duration_seconds_count', { method: 'POST', route: '/v1/linkages' })).toBeGreaterThanOrEqual(1);
      expect(sum(samples, 'kouza_http_request_duration_seconds_count', { method: 'GET', route: '/v1/linkages/:id' })).toBeGreaterThanOrEqual(1);
      expect(text).toMatch(/kouza_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/linkages"/);
      // Raw paths would make the label set unbounded (and ids are not for metrics).
      expect(text).not.toContain(id);
      expect(text).not.toContain(unknown);
    });

    it('kouza_linkages_created_total rises by exactly the linkages created; already-linked accounts and replays do not count', async () => {
      const myNumber = validMyNumber(90_002);

      const before = await createdTotal();
      const first = await t.http.post('/v1/linkages').set(inst.auth).send(linkageBody(myNumber, { accounts: [account('9100001'), account('9100002')] })).expect(201);
      expect(newlyCreated(first.body)).toBe(2);
      const afterFirst = await createdTotal();
      expect(afterFirst - before).toBe(2);
      expect(sum((await scrape()).samples, 'kouza_linkages_created_total', { institution: '0001' })).toBeGreaterThanOrEqual(2);

      // One account already linked, one new.
      const second = await t.http.post('/v1/linkages').set(inst.auth).send(linkageBody(myNumber, { accounts: [account('9100002'), account('9100003')] })).expect(201);
      expect(newlyCreated(second.body)).toBe(1);
      const afterSecond = await createdTotal();
      expect(afterSecond - afterFirst).toBe(1);

      // Everything already linked.
      const third = await t.http.post('/v1/linkages').set(inst.auth).send(linkageBody(myNumber, { accounts: [account('9100001'), account('9100003')] })).expect(201);
      expect(newlyCreated(third.body)).toBe(0);
      expect(await createdTotal()).toBe(afterSecond);

      // An idempotent replay creates nothing.
      const key = `ops-${randomBytes(8).toString('hex')}`;
      const body = linkageBody(myNumber, { accounts: [account('9100004')] });
      const original = await t.http.post('/v1/linkages').set(inst.auth).set('Idempotency-Key', key).send(body).expect(201);
      expect(newlyCreated(original.body)).toBe(1);
      const afterOriginal = await createdTotal();
      expect(afterOriginal - afterSecond).toBe(1);
      const replay = await t.http.post('/v1/linkages').set(inst.auth).set('Idempotency-Key', key).send(body).expect(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(await createdTotal()).toBe(afterOriginal);
    });
  });

  describe('OpenAPI document', () => {
    /** Every route the app serves under /v1, in OpenAPI path syntax. */
    const V1_OPERATIONS = [
      'POST /v1/institutions',
      'GET /v1/institutions',
      'GET /v1/institutions/{code}',
      'GET /v1/institutions/{code}/rate-limit',
      'PUT /v1/institutions/{code}/rate-limit',
      'DELETE /v1/institutions/{code}/rate-limit',
      'POST /v1/institutions/{code}/api-keys',
      'GET /v1/institutions/{code}/api-keys',
      'POST /v1/institutions/{code}/api-keys/{id}/revocation',
      'POST /v1/linkages',
      'GET /v1/linkages',
      'GET /v1/linkages/{id}',
      'POST /v1/linkages/{id}/revocation',
      'GET /v1/audit/verification',
      'POST /v1/peers',
      'GET /v1/peers',
      'GET /v1/peers/{nodeId}',
      'DELETE /v1/peers/{nodeId}',
      'POST /v1/peers/{nodeId}/refresh',
      'GET /v1/node',
      'POST /v1/peer/location-queries',
      'POST /v1/peer/numbering-notices',
      'POST /v1/peer/audit-checkpoints',
      'POST /v1/peer/audit-checkpoints/latest',
      'PUT /v1/institutions/{code}/webhook',
      'DELETE /v1/institutions/{code}/webhook',
      'POST /v1/institutions/{code}/webhook/secret',
      'POST /v1/register-imports',
      'GET /v1/register-imports',
      'GET /v1/register-imports/{id}',
      'GET /v1/webhook-deliveries',
      'GET /v1/webhook-deliveries/{id}',
      'POST /v1/inquiries',
      'GET /v1/inquiries',
      'GET /v1/inquiries/{id}',
      'POST /v1/numbering-requests',
      'GET /v1/numbering-requests',
      'GET /v1/numbering-requests/{id}',
      'POST /v1/disaster-declarations',
      'GET /v1/disaster-declarations',
      'GET /v1/disaster-declarations/{id}',
      'POST /v1/key-rotations',
      'GET /v1/key-rotations',
      'GET /v1/key-rotations/{id}',
      'POST /v1/access-history',
    ].sort();
    /** Node-to-node routes: public (the envelope's signature authenticates a query). */
    const PUBLIC_V1 = [
      'GET /v1/node',
      'POST /v1/peer/location-queries',
      'POST /v1/peer/numbering-notices',
      'POST /v1/peer/audit-checkpoints',
      'POST /v1/peer/audit-checkpoints/latest',
    ];
    const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

    type Operation = { responses?: Record<string, { description?: string; content?: Record<string, unknown> }>; security?: Array<Record<string, unknown>> };
    let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components?: { securitySchemes?: Record<string, { type: string; scheme?: string }> } };
    let v1: Array<[string, Operation]>;

    beforeAll(async () => {
      const res = await t.http.get('/docs/openapi.json').expect(200);
      expect(res.headers['content-type']).toMatch(/json/);
      doc = res.body;
      v1 = Object.entries(doc.paths)
        .filter(([path]) => path.startsWith('/v1/') || path === '/v1')
        .flatMap(([path, item]) =>
          Object.entries(item)
            .filter(([method]) => HTTP_METHODS.includes(method))
            .map(([method, op]) => [`${method.toUpperCase()} ${path}`, op] as [string, Operation]),
        );
    });

    it('/docs answers the HTML UI', async () => {
      const res = await t.http.get('/docs').redirects(2);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toMatch(/swagger/i);
    });

    it('lists exactly the routes served under /v1', () => {
      expect(doc.openapi).toMatch(/^3\./);
      expect(v1.map(([name]) => name).sort()).toEqual(V1_OPERATIONS);
    });

    it('every documented /v1 route is really served', () => {
      const fastify = t.app.getHttpAdapter().getInstance();
      for (const name of V1_OPERATIONS) {
        const [method, path] = name.split(' ');
        const url = path.replace(/\{(\w+)\}/g, ':$1');
        expect({ name, served: fastify.hasRoute({ method: method as 'GET', url }) }).toEqual({ name, served: true });
      }
    });

    it('every /v1 operation that can refuse documents a problem+json 4xx answer; all but the node-to-node ones require the bearer scheme', () => {
      for (const [name, op] of v1) {
        const problems = Object.entries(op.responses ?? {}).filter(
          ([status, response]) => /^4\d\d$/.test(status) && response.content?.['application/problem+json'] !== undefined,
        );
        // GET /v1/node publishes public keys to anyone: it refuses nothing.
        expect({ name, problemResponses: problems.length > 0 }).toEqual({ name, problemResponses: name !== 'GET /v1/node' });
        if (PUBLIC_V1.includes(name)) expect({ name, security: op.security }).toEqual({ name, security: [] });
        else expect({ name, security: op.security }).toEqual({ name, security: expect.arrayContaining([{ bearer: [] }]) });
      }
    });

    it('declares the bearer security scheme', () => {
      expect(doc.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    });

    it('every error code a route can answer with is described in some response', () => {
      // Routing-level codes are answered by no documented operation.
      const expected = Object.keys(ERROR_CATALOGUE).filter((code) => code !== 'ROUTE_NOT_FOUND' && code !== 'METHOD_NOT_ALLOWED');
      // The ProblemDto schema enumerates every code, so look in the response descriptions,
      // which is where a reader of one operation learns what it may answer.
      const descriptions = Object.values(doc.paths)
        .flatMap((item) => Object.values(item))
        .flatMap((op) => Object.values((op as Operation).responses ?? {}).map((r) => r.description ?? ''))
        .join('\n');
      const missing = expected.filter((code) => !descriptions.includes(code));
      expect(missing).toEqual([]);
      const text = JSON.stringify(doc);
      expect(expected.filter((code) => !text.includes(code))).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------------------

describe('start-up configuration checks (built processes)', () => {
  const ENTRY_POINTS = ['main.js', 'worker.js', 'start.js', 'cli/migrate.js'];
  const dir = mkdtempSync(join(tmpdir(), 'kouza-ops-config-'));
  const keysFile = join(dir, 'keys.json');
  const dbName = uniqueName('kouza_never_created');
  const generatedKey = () => `dev.${randomBytes(32).toString('base64')}`;
  const realKey = () => randomBytes(32).toString('base64');

  const common = {
    KEYS_FILE: keysFile,
    DATABASE_URL: `${POSTGRES_SERVER_URL}/${dbName}`,
    // Nothing listens on port 1: a process that got past its checks could not touch the real Redis.
    REDIS_URL: 'redis://127.0.0.1:1',
    QUEUE_PREFIX: `{e2e-ops-config}`,
    LOG_LEVEL: 'warn',
  };

  beforeAll(() => {
    for (const script of ENTRY_POINTS) requireBuilt(script);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropDatabase(common.DATABASE_URL).catch(() => undefined);
  });

  const devMaster = generatedKey();
  const devIndex = generatedKey();
  // Real node keys, so that the production cases fail for what they are about.
  const { NODE_ID, NODE_SIGNING_KEY, NODE_ENCRYPTION_KEY } = testKeysEnv();
  const node = { NODE_ID, NODE_SIGNING_KEY, NODE_ENCRYPTION_KEY, AUDIT_CHAIN_KEY: realKey() };
  const generatedSigningKey = JSON.stringify({ ...JSON.parse(NODE_SIGNING_KEY), kid: 'dev.signing' });
  const cases: Array<{ name: string; env: Record<string, string>; mentions: RegExp[]; secrets: string[] }> = [
    { name: 'PORT=abc', env: { PORT: 'abc' }, mentions: [/PORT/], secrets: [] },
    { name: 'DATABASE_URL=mysql://…', env: { DATABASE_URL: 'mysql://dbuser:Pw-9f3kQ@db.example/x' }, mentions: [/DATABASE_URL/], secrets: ['Pw-9f3kQ', 'mysql://dbuser'] },
    {
      name: 'production without MASTER_KEYS and BLIND_INDEX_KEYS',
      env: { NODE_ENV: 'production' },
      mentions: [/MASTER_KEYS/, /BLIND_INDEX_KEYS/],
      secrets: [],
    },
    {
      name: 'production with generated development keys',
      env: { NODE_ENV: 'production', ...node, MASTER_KEYS: `dev-master-1:${devMaster}`, BLIND_INDEX_KEYS: `1:${devIndex}` },
      mentions: [/generated development key/i, /MASTER_KEYS|BLIND_INDEX_KEYS/],
      secrets: [devMaster.slice(4), devIndex.slice(4)],
    },
    {
      name: 'production with a malformed key',
      env: { NODE_ENV: 'production', ...node, MASTER_KEYS: 'm1:' + randomBytes(16).toString('base64'), BLIND_INDEX_KEYS: `1:${realKey()}` },
      mentions: [/MASTER_KEYS/],
      secrets: [],
    },
    {
      name: 'production without node keys',
      env: { NODE_ENV: 'production', MASTER_KEYS: `m1:${realKey()}`, BLIND_INDEX_KEYS: `1:${realKey()}` },
      mentions: [/NODE_ID/, /NODE_SIGNING_KEY/, /NODE_ENCRYPTION_KEY/],
      secrets: [],
    },
    {
      name: 'production with a generated node key',
      env: { NODE_ENV: 'production', ...node, NODE_SIGNING_KEY: generatedSigningKey, MASTER_KEYS: `m1:${realKey()}`, BLIND_INDEX_KEYS: `1:${realKey()}` },
      mentions: [/NODE_SIGNING_KEY.*generated development key/i],
      secrets: [JSON.parse(NODE_SIGNING_KEY).d],
    },
    { name: 'ADMIN_API_KEY too short', env: { ADMIN_API_KEY: 'short' }, mentions: [/ADMIN_API_KEY/], secrets: ['short'] },
    { name: 'ADMIN_API_KEY too short (distinctive value)', env: { ADMIN_API_KEY: 'Zq7-shh-9Xw' }, mentions: [/ADMIN_API_KEY/], secrets: ['Zq7-shh-9Xw'] },
  ];
  // The malformed key's value is a secret too.
  cases[4].secrets.push(cases[4].env.MASTER_KEYS.slice(3), cases[4].env.BLIND_INDEX_KEYS.slice(2));

  it.each(cases)('$name → every entry point exits 1 naming the variable, without printing secrets', async ({ env, mentions, secrets }) => {
    const results = await Promise.all(ENTRY_POINTS.map(async (script) => ({ script, ...(await runToExit(script, { ...common, ...env })) })));
    for (const { script, code, signal, stdout, stderr } of results) {
      const output = stdout + stderr;
      expect({ script, code, signal }).toEqual({ script, code: 1, signal: null });
      expect(stderr).toMatch(/refusing to start/);
      for (const mention of mentions) expect({ script, stderr }).toEqual({ script, stderr: expect.stringMatching(mention) });
      for (const secret of secrets) expect({ script, leaked: output.includes(secret) }).toEqual({ script, leaked: false });
    }
    // Checked before anything else: no key file generated, no database created.
    expect(existsSync(keysFile)).toBe(false);
    expect(await databaseExists(dbName)).toBe(false);
  }, 60_000);
});

// ---------------------------------------------------------------------------

describe('npm start (dist/src/start.js) on an empty machine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kouza-ops-start-'));
  const keysFile = join(dir, 'keys', 'keys.json');
  const dbName = uniqueName('kouza_e2e_start');
  // As a fresh clone runs it: the service as kouza_app, the migrations (by default) as the local owner.
  const databaseUrl = `${APP_SERVER_URL}/${dbName}`;
  const ownerUrl = `${POSTGRES_SERVER_URL}/${dbName}`;
  const adminKey = `ops-admin-${randomBytes(18).toString('base64url')}`;
  const queuePrefix = `{e2e-ops-${randomBytes(4).toString('hex')}}`;
  let child: ChildProcess | undefined;
  let pids: number[] = [];
  let stdout = '';
  let stderr = '';

  afterAll(async () => {
    // On failure the processes may still run: stop them (only those started here).
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await dropDatabase(ownerUrl).catch(() => undefined);
    const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${queuePrefix}*`, 'COUNT', 500);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } catch {
      // Best effort.
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  it('creates the database, generates development keys (0600), serves, and stops cleanly on SIGTERM', async () => {
    const script = requireBuilt('start.js');
    expect(await databaseExists(dbName)).toBe(false);
    const port = await freePort();
    child = spawn(process.execPath, [script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: baseEnv({
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        HOST: '127.0.0.1',
        KEYS_FILE: keysFile,
        AUDIT_CHECKPOINT_FILE: join(dir, 'audit-checkpoints.jsonl'),
        ADMIN_API_KEY: adminKey,
        LOG_LEVEL: 'warn',
        QUEUE_PREFIX: queuePrefix,
      }),
    });
    started.add(child);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child!.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let exitedEarly: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exited.then((e) => (exitedEarly = e));
    const base = `http://127.0.0.1:${port}`;

    try {
      await waitFor(
        'GET /health → 200',
        async () => {
          if (exitedEarly) throw new Error(`start.js exited early (${JSON.stringify(exitedEarly)})`);
          try {
            const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) });
            return res.status === 200 ? true : undefined;
          } catch {
            return undefined;
          }
        },
        30_000,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nstdout: ${stdout}\nstderr: ${stderr}`);
    }

    pids = childPids(child.pid!);
    expect(pids).toHaveLength(2); // the API and the worker

    expect(await databaseExists(dbName)).toBe(true);
    const mode = statSync(keysFile).mode & 0o777;
    expect(mode.toString(8)).toBe('600');
    expect(stderr).toMatch(/generated development keys/i);
    // The service connects as its restricted role: no warning that it could rewrite the audit trail.
    expect(stdout + stderr).not.toMatch(/can change, delete or alter the audit trail/);

    const created = await fetch(`${base}/v1/institutions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: '0777', name: 'Ops Bank' }),
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ code: '0777' });

    // Secrets never reach the output.
    const generated = JSON.parse(readFileSync(keysFile, 'utf8')) as { MASTER_KEYS: string; BLIND_INDEX_KEYS: string };
    const output = stdout + stderr;
    expect(output).not.toContain(adminKey);
    expect(output).not.toContain(generated.MASTER_KEYS.split(':dev.')[1]);
    expect(output).not.toContain(generated.BLIND_INDEX_KEYS.split(':dev.')[1]);

    process.kill(child.pid!, 'SIGTERM');
    const result = await Promise.race([
      exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000).unref()),
    ]);
    if (result === 'timeout') throw new Error(`start.js did not exit within 15 s of SIGTERM\nstdout: ${stdout}\nstderr: ${stderr}`);
    expect({ ...result, stderr: result.code === 0 ? '' : stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    started.delete(child);
    // start.js waits for its children, so they are gone by now.
    expect(pids.filter(isAlive)).toEqual([]);
  }, 90_000);
});

afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
