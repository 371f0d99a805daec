import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ERROR_CATALOGUE } from '../../src/common/errors/error-codes.js';
import { QueueName } from '../../src/queue/queues.js';
import { inheritanceBody, finalInquiry } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { ADMIN_KEY, eventually, linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';

/**
 * Operating the service: per-key rate limits held in Redis (shared by API instances),
 * the institution's own limit, the queue dashboard behind the operator key, the
 * worker's metrics endpoint and the API cluster's aggregated scrape.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const basic = (password: string, user = 'operator') => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

describe('rate limits per API key', () => {
  let a: TestApp;
  let b: TestApp;
  let bank: TestInstitution;

  beforeAll(async () => {
    // Default: a bucket of 3, refilled at 1 per minute, so that nothing refills during the test.
    a = await startTestApp({
      env: { RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_BURST: '3', ADMIN_RATE_LIMIT_PER_MINUTE: '6000', ADMIN_RATE_LIMIT_BURST: '500' },
    });
    // A second API instance: same database, same Redis prefix, same configuration.
    b = await startTestApp({ database: a.db, env: a.env });
    bank = await a.createInstitution('0301');
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const list = (t: TestApp, who: TestInstitution) => t.http.get('/v1/inquiries').set(who.auth);

  it('answers with RateLimit headers, then 429 RATE_LIMITED with Retry-After once the bucket is empty', async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await list(a, bank).expect(200);
      expect(r.headers['ratelimit-limit']).toBe('3');
      remaining.push(r.headers['ratelimit-remaining']);
      expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThan(0);
    }
    expect(remaining).toEqual(['2', '1', '0']);

    const refused = await list(a, bank).expect(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ status: 429, code: 'RATE_LIMITED', title: ERROR_CATALOGUE.RATE_LIMITED.title });
    // One token per minute: the next one comes within a minute.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(refused.headers['ratelimit-limit']).toBe('3');
    expect(refused.headers['ratelimit-remaining']).toBe('0');

    // Exempt: health, metrics and the API documents carry no limit.
    for (const path of ['/health', '/metrics', '/docs/openapi.json']) {
      const r = await a.http.get(path);
      expect(r.status).toBe(200);
      expect(r.headers['ratelimit-limit']).toBeUndefined();
    }
    // Another key of another institution has its own bucket.
    const other = await a.createInstitution('0302');
    await list(a, other).expect(200);

    const metrics = await a.http.get('/metrics').expect(200);
    expect(metrics.text).toMatch(/kouza_rate_limited_total\{principal="institution",institution="0301"\} [1-9]/);
  });

  it('holds across API instances sharing Redis: one bucket per key', async () => {
    const shared = await a.createInstitution('0303');
    await list(a, shared).expect(200);
    await list(b, shared).expect(200);
    await list(a, shared).expect(200);
    const refused = await list(b, shared).expect(429);
    expect(refused.body.code).toBe('RATE_LIMITED');
    await list(a, shared).expect(429);
  });

  it("applies the institution's own limit, set by the operator, and returns to the default when it is removed", async () => {
    const own = await a.createInstitution('0304');
    const before = await a.http.get('/v1/institutions/0304/rate-limit').set(a.admin).expect(200);
    expect(before.body).toEqual({ institutionCode: '0304', requestsPerMinute: 1, burst: 3, source: 'default' });

    const set = await a.http
      .put('/v1/institutions/0304/rate-limit')
      .set(a.admin)
      .send({ requestsPerMinute: 1, burst: 5 })
      .expect(200);
    expect(set.body).toEqual({ institutionCode: '0304', requestsPerMinute: 1, burst: 5, source: 'institution' });

    for (let i = 0; i < 5; i++) expect((await list(a, own).expect(200)).headers['ratelimit-limit']).toBe('5');
    await list(a, own).expect(429);

    // 0 = not limited: no headers, no refusal.
    await a.http.put('/v1/institutions/0304/rate-limit').set(a.admin).send({ requestsPerMinute: 0, burst: 1 }).expect(200);
    const free = await list(a, own).expect(200);
    expect(free.headers['ratelimit-limit']).toBeUndefined();

    await a.http.delete('/v1/institutions/0304/rate-limit').set(a.admin).expect(204);
    expect((await a.http.get('/v1/institutions/0304/rate-limit').set(a.admin).expect(200)).body.source).toBe('default');

    // The change is audited.
    const audit = await a.db.query(`SELECT details FROM audit_events WHERE action = 'institution.rate-limit'`);
    expect(audit.map((row: { details: { burst: number | null } }) => row.details.burst).sort()).toEqual([1, 5, null]);
  });

  it('refuses bad limits and unknown institutions with problem+json', async () => {
    const bad = await a.http.put('/v1/institutions/0301/rate-limit').set(a.admin).send({ requestsPerMinute: -1, burst: 0 }).expect(422);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['burst', 'requestsPerMinute']);
    await a.http.put('/v1/institutions/0399/rate-limit').set(a.admin).send({ requestsPerMinute: 10, burst: 10 }).expect(404);
    await a.http.put('/v1/institutions/0301/rate-limit').set(bank.auth).send({ requestsPerMinute: 10, burst: 10 }).expect((r) => {
      // The bank's bucket is empty (first test) or its scope is missing: never a change.
      expect([403, 429]).toContain(r.status);
    });
  });

  it('limits the operator key with its own limit', async () => {
    const r = await a.http.get('/v1/institutions').set(a.admin).expect(200);
    expect(r.headers['ratelimit-limit']).toBe('500');
  });
});

describe('rate limits while Redis is down', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let bank: TestInstitution;

  beforeAll(async () => {
    proxy = new TcpProxy('127.0.0.1', 6379);
    const port = await proxy.start();
    t = await startTestApp({ env: { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_BURST: '1' } });
    bank = await t.createInstitution('0311');
  }, 60_000);

  afterAll(async () => {
    proxy.restore();
    await t?.close();
    await proxy?.stop();
  });

  it('lets requests through (fail open) and counts them', async () => {
    await t.http.get('/v1/inquiries').set(bank.auth).expect(200);
    await t.http.get('/v1/inquiries').set(bank.auth).expect(429);
    proxy.cut();
    await eventually(
      () => t.http.get('/v1/inquiries').set(bank.auth),
      (r) => r.status === 200,
    );
    const r = await t.http.get('/v1/inquiries').set(bank.auth).expect(200);
    expect(r.headers['ratelimit-limit']).toBeUndefined();
    const metrics = await t.http.get('/metrics').expect(200);
    expect(metrics.text).toMatch(/kouza_rate_limit_errors_total [1-9]/);
    proxy.restore();
    await eventually(
      () => t.http.get('/v1/inquiries').set(bank.auth),
      (res) => res.status === 429,
    );
  });
});

describe('queue dashboard and worker metrics', () => {
  let t: TestApp;
  let bank: TestInstitution;
  let metricsPort: number;

  beforeAll(async () => {
    metricsPort = await freePort();
    t = await startTestApp({ env: { WORKER_METRICS_PORT: String(metricsPort), HOST: '127.0.0.1' } });
    bank = await t.createInstitution('0321');
    await t.startWorker();
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('refuses /queues without the operator key, with a Basic challenge', async () => {
    for (const headers of [{}, basic('wrong-key-0123456789abcdef'), bank.auth, { Authorization: 'Basic !!!' }]) {
      const r = await t.http.get('/queues').set(headers).expect(401);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.headers['www-authenticate']).toMatch(/^Basic realm="kouza-hub queues"/);
      expect(r.body.code).toBe('UNAUTHENTICATED');
    }
    await t.http.get('/queues/api/queues').expect(401);
  });

  it('shows every queue to the operator key (Basic or Bearer), the retention schedulers included', async () => {
    const page = await t.http.get('/queues').set(basic(ADMIN_KEY)).expect(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    await t.http.get('/queues').set(t.admin).expect(200);

    // A scheduler's next run is listed as delayed only between runs: wait until each of
    // the retention jobs has been seen there (the audit seal, every second, can fill the
    // list while another one is running).
    const retention = ['idempotency.purge', 'inquiry.purge-results', 'peer-message-ids.purge'];
    const scheduled = await eventually(
      () => t.http.get('/queues/api/queues?activeQueue=maintenance&status=delayed&page=1').set(basic(ADMIN_KEY, '')),
      (r) => {
        const jobs: { name: string }[] = r.body.queues?.find((q: { name: string }) => q.name === 'maintenance')?.jobs ?? [];
        return r.status === 200 && retention.every((name) => jobs.some((j) => j.name === name));
      },
    );
    const names = scheduled.body.queues.map((q: { name: string }) => q.name).sort();
    expect(names).toEqual(Object.values(QueueName).sort());
    const maintenance = scheduled.body.queues.find((q: { name: string }) => q.name === 'maintenance');
    const jobNames = maintenance.jobs.map((j: { name: string }) => j.name);
    for (const job of retention) expect(jobNames).toContain(job);
  });

  it("serves the worker's fan-out metrics on WORKER_METRICS_PORT after an inquiry", async () => {
    await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(validMyNumber(7301))).expect(201);
    const created = await t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(validMyNumber(7301))).expect(202);
    const final = await finalInquiry(t, bank, created.body.id);
    expect(final.status).toBe('completed');

    const text = await eventually(
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
      (body) => /kouza_retention_runs_total\{job="audit.seal",outcome="ok"\} [1-9]/.test(body),
    );
    expect(text).toMatch(/kouza_inquiry_duration_seconds_count\{kind="inheritance",status="completed"\} 1\b/);
    expect(text).toMatch(/kouza_inquiries_final_total\{kind="inheritance",status="completed"\} 1\b/);
    expect(text).toMatch(/kouza_fanout_nodes_count [1-9]/);
    expect(text).toMatch(/kouza_queue_jobs\{queue="maintenance",state="delayed"\} [1-9]/);
    expect(text).toMatch(/kouza_audit_last_seal_timestamp_seconds \d+/);
    expect(text).toMatch(/# TYPE kouza_peer_answer_seconds histogram/);
    expect(text).toMatch(/# TYPE kouza_reconciler_actions_total counter/);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);

    // The API's scrape has the queue depths too (read from Redis at scrape time).
    const api = await t.http.get('/metrics').expect(200);
    expect(api.text).toMatch(/kouza_queue_jobs\{queue="maintenance",state="delayed"\} [1-9]/);
  }, 60_000);
});

describe('API cluster metrics (API_PROCESSES > 1)', () => {
  let child: ChildProcess | undefined;
  let tmp: string;
  let t: TestApp;

  beforeAll(async () => {
    // A database with the schema, through a test app that is then closed (keeping the database).
    t = await startTestApp();
    tmp = mkdtempSync(join(tmpdir(), 'kouza-cluster-'));
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child!.once('exit', resolve));
    }
    rmSync(tmp, { recursive: true, force: true });
    await t?.close();
  });

  it('answers a scrape with the sum of every process', async () => {
    const main = join(REPO_ROOT, 'dist/src/main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
    const port = await freePort();
    child = spawn(process.execPath, [main], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...t.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        API_PROCESSES: '2',
        LOG_LEVEL: 'info',
        KEYS_FILE: join(tmp, 'keys.json'),
      },
    });
    const base = `http://127.0.0.1:${port}`;
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // Both processes listening (each logs it once), so that requests are shared between them.
    await eventually(
      async () => output.split('API listening').length - 1,
      (listening) => listening === 2,
      30_000,
    );
    const requests = 20;
    for (let i = 0; i < requests; i++) expect((await fetch(`${base}/docs/openapi.json`)).status).toBe(200);
    // Round robin gives each process part of the 20; the scrape must count all of them.
    const text = await eventually(
      () => fetch(`${base}/metrics`).then((r) => r.text()),
      (body) => /kouza_http_requests_total\{method="GET",route="\/docs\/openapi.json",status="200"\} 20\b/.test(body),
      15_000,
    );
    expect(text).toMatch(/# TYPE kouza_http_requests_total counter/);
  }, 60_000);
});

