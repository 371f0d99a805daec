import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CSV_HEADER } from '../../src/register/register-row.js';
import { QueueName, queuePrefix } from '../../src/queue/queues.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/simulator.js';
import { finalInquiry, inheritanceBody } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { LocalRedisCluster } from './support/redis-cluster.js';
import { eventually, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';

/**
 * The service on a real Redis Cluster (three masters, one replica each, started by this
 * test on ports of its own): a fan-out over simulated peers with the inquirer's
 * completion webhooks, a register import, the queue families on different masters,
 * and the two disturbances: a master SIGKILLed mid-fan-out (its replica takes over),
 * and every master flushed mid-fan-out. Each ends as an undisturbed run does: the same
 * results, no inquiry left unfinished, a delivered webhook for every inquiry.
 */
const PORTS = [21100, 21101, 21102, 21103, 21104, 21105];
/** Cluster bus ports: 21150–21155. */
const BUS_OFFSET = 50;
const PEERS = 3;

describe('on Redis Cluster', () => {
  const cluster = new LocalRedisCluster(PORTS, { busOffset: BUS_OFFSET, nodeTimeoutMs: 2000 });
  const hooks: { path: string; inquiryId: string }[] = [];
  let receiver: Server;
  let t: TestApp;
  let sim: RunningSimulator;
  let requester: TestInstitution;
  let worker: INestApplicationContext;
  let nextNumber = 7000;

  const inquire = async (myNumber: string) =>
    (await t.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(myNumber)).expect(202)).body.id as string;

  /** What an undisturbed run answers for a number: the hosted institution, then each peer's. */
  const expected = (myNumber: string) => [
    { institutionCode: '0001', status: 'not-found', accounts: [] },
    ...sim.manifest.map((node) => {
      const code = node.institutions[0].code;
      const accounts = sim.accountsAt(myNumber, code);
      return { institutionCode: code, status: accounts.length ? 'found' : 'not-found', accounts: expect.arrayContaining(accounts) };
    }),
  ];
  const resultsOf = (view: any) =>
    view.results.map((r: any) => ({ institutionCode: r.institutionCode, status: r.status, accounts: r.accounts }));

  /** Every inquiry completed with the undisturbed results, and its completion webhook delivered (and received). */
  async function expectUndisturbedOutcome(ids: string[], numbers: string[]): Promise<void> {
    const views = await Promise.all(ids.map((id) => finalInquiry(t, requester, id, 90_000)));
    views.forEach((view, i) => {
      expect(view.status).toBe('completed');
      expect(view.progress).toEqual({ total: PEERS + 1, answered: PEERS + 1, failed: 0 });
      expect(resultsOf(view)).toEqual(expected(numbers[i]));
    });
    const deliveries = await eventually(
      async () =>
        (
          await t.db.query(
            `SELECT status, payload->'data'->>'inquiryId' AS "inquiryId" FROM webhook_deliveries
              WHERE institution_id = $1 AND payload->'data'->>'inquiryId' = ANY($2::text[])`,
            [requester.id, ids],
          )
        ) as { status: string; inquiryId: string }[],
      (rows) => rows.length === ids.length && rows.every((r) => r.status === 'delivered'),
      60_000,
    );
    expect(deliveries.map((d) => d.inquiryId).sort()).toEqual([...ids].sort());
    const received = new Set(hooks.map((h) => h.inquiryId));
    for (const id of ids) expect(received.has(id)).toBe(true);
  }

  /** A fan-out held mid-way (every peer slow), disturbed, then released. */
  async function disturbedRun(disturb: () => Promise<void>): Promise<void> {
    const numbers = [validMyNumber(++nextNumber), validMyNumber(++nextNumber), validMyNumber(++nextNumber)];
    sim.resetStats();
    sim.control({ latencyMs: 3000 });
    const ids = await Promise.all(numbers.map(inquire));
    await eventually(async () => sim.stats().byNode[0]?.messages ?? 0, (n) => n >= 1, 30_000);
    await disturb();
    sim.control({ latencyMs: 20 });
    await expectUndisturbedOutcome(ids, numbers);
  }

  beforeAll(async () => {
    await cluster.start();
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        hooks.push({ path: req.url ?? '', inquiryId: body.data?.inquiryId });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    t = await startTestApp({
      env: {
        REDIS_CLUSTER_NODES: cluster.seeds,
        // The cluster is this test's own: the production prefix, so that what is checked
        // below (which master holds which family) is what a default deployment gets.
        QUEUE_PREFIX: '{kouza-hub}',
        PEER_BATCH_WAIT_MS: '50',
        PEER_REQUEST_TIMEOUT_MS: '8000',
        PEER_RETRY_ATTEMPTS: '5',
        PEER_RETRY_BACKOFF_MS: '500',
        PEER_NODE_DEADLINE_SECONDS: '60',
        INQUIRY_DEADLINE_SECONDS: '120',
        RECONCILE_INTERVAL_MS: '1000',
        JOB_LOCK_DURATION_MS: '3000',
        WEBHOOK_BACKOFF_MS: '200',
        WEBHOOK_SWEEP_INTERVAL_MS: '1000',
      },
    });
    requester = await t.createInstitution('0001', ['inquiries:write', 'inquiries:read', 'register:write', 'register:read']);
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/cluster`;
    await t.http.put('/v1/institutions/0001/webhook').set(t.admin).send({ url: hookUrl }).expect(200);

    sim = await startSimulator({
      nodes: PEERS,
      seed: 23,
      hitRate: 0.5,
      holder: { nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01' },
      faults: { latencyMs: 20 },
    });
    await sim.trust((await t.http.get('/v1/node').expect(200)).body);
    for (const registration of sim.manifest) await t.http.post('/v1/peers').set(t.admin).send(registration).expect(201);
    worker = await t.startWorker();
  }, 120_000);

  afterAll(async () => {
    // Each step bounded, and the cluster stopped whatever they do: once (1 of 4 CI runs,
    // all tests passed) this teardown stalled for its whole 120 s, which left the cluster
    // running and failed the next run's start. A stalled step is named in the output.
    const settle = async (what: string, step: () => Promise<unknown>) => {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), 25_000)));
      const outcome = await Promise.race([step().then(() => 'done', () => 'failed'), stalled]);
      clearTimeout(timer);
      if (outcome === 'stalled') console.warn(`redis-cluster teardown: ${what} did not finish within 25 s`);
    };
    await settle('the worker context', async () => worker?.close());
    await settle('the simulator', async () => sim?.close());
    await settle('the test app', async () => t?.close());
    await settle('the webhook receiver', () => new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve())));
    await cluster.stop();
  }, 120_000);

  it('fans out, with the completion webhooks', async () => {
    const numbers = [validMyNumber(++nextNumber), validMyNumber(++nextNumber), validMyNumber(++nextNumber), validMyNumber(++nextNumber)];
    const ids = await Promise.all(numbers.map(inquire));
    await expectUndisturbedOutcome(ids, numbers);
    // One message per peer and batch: the flow's jobs all ran on the cluster.
    for (const [i] of sim.manifest.entries()) expect(sim.stats().byNode[i].queries).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('imports a register upload', async () => {
    const row = (n: number) =>
      [`C${n}`, '001', 'ordinary', String(n).padStart(7, '0'), 'ヤマダ タロウ', '1980-04-01', '100-0013', '東京都千代田区霞が関1丁目2番3号', 'open'].join(',');
    const accepted = await t.http
      .post('/v1/register-imports?mode=full')
      .set(requester.auth)
      .set('content-type', 'text/csv; charset=utf-8')
      .send(Buffer.from(`${CSV_HEADER}\n${row(1)}\n${row(2)}\n`))
      .expect(202);
    const view = await eventually(
      async () => (await t.http.get(`/v1/register-imports/${accepted.body.id}`).set(requester.auth).expect(200)).body,
      (v) => ['completed', 'failed', 'refused'].includes(v.status),
      30_000,
    );
    expect(view).toMatchObject({ status: 'completed', counts: { inserted: 2, rejected: 0 } });
  }, 60_000);

  it('the queue families live on different masters; a flow’s queues in one slot', async () => {
    const inquiries = await cluster.masterOf(queuePrefix(t.config, QueueName.Inquiries));
    expect(await cluster.masterOf(queuePrefix(t.config, QueueName.PeerQueries))).toBe(inquiries);
    const byFamily = new Map<QueueName, number>();
    for (const queue of Object.values(QueueName)) byFamily.set(queue, await cluster.masterOf(queuePrefix(t.config, queue)));
    expect(new Set(byFamily.values()).size).toBe(3);
    expect(byFamily.get(QueueName.Webhooks)).not.toBe(inquiries);
    // And the keys are really there: every master holds some of this deployment's keys.
    const counts = await cluster.keysPerMaster('{kouza-hub:*');
    expect([...counts.values()].filter((n) => n > 0).length).toBe(3);
    for (const [queue, port] of byFamily) {
      const keys = await cluster.keysPerMaster(`${queuePrefix(t.config, queue)}:${queue}:*`);
      // A family's keys on its master only (maintenance and register have run by now, key rotations have not).
      for (const [other, n] of keys) if (other !== port) expect(n).toBe(0);
    }
  }, 60_000);

  it('health checks the cluster; rate-limit buckets are on it, without a hash tag', async () => {
    const health = await t.http.get('/health').expect(200);
    expect(health.body.info.redis).toMatchObject({ status: 'up' });
    const buckets = [...(await cluster.keysPerMaster('kouza-rate:kouza-hub:*')).values()].reduce((a, b) => a + b, 0);
    expect(buckets).toBeGreaterThan(0);
  }, 30_000);

  it('a master SIGKILLed mid-fan-out: its replica takes over and every inquiry ends as undisturbed', async () => {
    await disturbedRun(async () => {
      await cluster.killMaster(await cluster.masterOf(queuePrefix(t.config, QueueName.Inquiries)));
      await cluster.waitUntilOk();
    });
  }, 180_000);

  it('every master flushed mid-fan-out: re-enqueued from Postgres, every inquiry ends as undisturbed', async () => {
    await disturbedRun(() => cluster.flushAll());
    expect(t.logs.text).toContain('reconciled inquiries with the queue');
  }, 180_000);
});
