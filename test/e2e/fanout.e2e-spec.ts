import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { startSimulator, type RunningSimulator } from '../../src/simulator/simulator.js';
import { finalInquiry, inheritanceBody } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { eventually, linkageBody, startTestApp } from './support/test-app.js';
import type { TestApp, TestInstitution } from './support/test-app.js';
import { WorkerProcess } from './support/worker-process.js';

/**
 * The fan-out across nodes: node A (this test's requester, its worker a real process)
 * asks its hosted institution, node B (a second real kouza-hub) and six simulated
 * peers: 0 and 1 healthy, 2 down, 3 failing, 4 forging signatures, 5 never answering.
 * Node A's Redis is a database of its own, so that flushing it touches no other test.
 */
const HEALTHY = [0, 1];
const SIM = { down: 2, failing: 3, forging: 4, silent: 5 };

describe('inquiries across peer nodes', () => {
  let a: TestApp;
  let b: TestApp;
  let sim: RunningSimulator;
  let requester: TestInstitution;
  let hostedAtB: TestInstitution;
  let worker: WorkerProcess | undefined;
  const redisA = new Redis('redis://127.0.0.1:6379/7', { lazyConnect: true });

  const startWorker = () => {
    worker = new WorkerProcess({ ...a.env, LOG_LEVEL: 'info' });
    return worker;
  };
  const inquire = async (myNumber: string) =>
    (await a.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(myNumber)).expect(202)).body.id as string;

  /** What an undisturbed run answers for a number, institution by institution. */
  const expected = (myNumber: string, linkedAtB: boolean, reachable: number[] = HEALTHY) => [
    { institutionCode: '0001', status: 'not-found', accounts: [] },
    linkedAtB
      ? { institutionCode: '0201', status: 'found', accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }] }
      : { institutionCode: '0201', status: 'not-found', accounts: [] },
    ...sim.manifest.map((node, i) => {
      const code = node.institutions[0].code;
      if (!reachable.includes(i)) return { institutionCode: code, status: 'unreachable', accounts: [] };
      const accounts = sim.accountsAt(myNumber, code);
      return { institutionCode: code, status: accounts.length ? 'found' : 'not-found', accounts: expect.arrayContaining(accounts) };
    }),
  ];
  const resultsOf = (view: any) =>
    view.results.map((r: any) => ({ institutionCode: r.institutionCode, status: r.status, accounts: r.accounts }));

  beforeAll(async () => {
    await redisA.connect();
    const env = {
      REDIS_URL: 'redis://127.0.0.1:6379/7',
      PEER_BATCH_WAIT_MS: '50',
      // Generous: node B answers from this test's own process, which a loaded machine slows.
      PEER_REQUEST_TIMEOUT_MS: '3000',
      PEER_RETRY_ATTEMPTS: '3',
      PEER_RETRY_BACKOFF_MS: '1000',
      // Several nodes per job, and several jobs: a retry re-asks only the nodes without an answer.
      PEER_NODES_PER_JOB: '3',
      PEER_NODE_DEADLINE_SECONDS: '20',
      INQUIRY_DEADLINE_SECONDS: '60',
      RECONCILE_INTERVAL_MS: '500',
      JOB_LOCK_DURATION_MS: '2000',
    };
    a = await startTestApp({ env });
    b = await startTestApp();
    await b.app.listen(0, '127.0.0.1');
    const bUrl = `http://127.0.0.1:${(b.app.getHttpServer().address() as AddressInfo).port}`;
    requester = await a.createInstitution('0001');
    hostedAtB = await b.createInstitution('0201');

    sim = await startSimulator({
      nodes: 6,
      seed: 11,
      hitRate: 0.5,
      // The inquiries name linkageBody()'s subject: the simulated institutions hold the numbers under it.
      holder: { nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01' },
      faults: { latencyMs: 20 },
      overrides: [
        { nodes: [SIM.down], down: true },
        { nodes: [SIM.failing], errorRate: 1 },
        { nodes: [SIM.forging], badSignatureRate: 1 },
        { nodes: [SIM.silent], timeoutRate: 1 },
      ],
    });
    const nodeA = (await a.http.get('/v1/node').expect(200)).body;
    const nodeB = (await b.http.get('/v1/node').expect(200)).body;
    await sim.trust(nodeA);
    for (const registration of sim.manifest) await a.http.post('/v1/peers').set(a.admin).send(registration).expect(201);
    await a.http
      .post('/v1/peers')
      .set(a.admin)
      .send({ ...nodeB, endpointUrl: bUrl, institutions: [{ code: '0201', name: 'Bank 0201' }] })
      .expect(201);
    await b.http
      .post('/v1/peers')
      .set(b.admin)
      .send({ ...nodeA, endpointUrl: 'http://127.0.0.1:9', institutions: [{ code: '0001', name: 'Bank 0001' }] })
      .expect(201);
  });

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await sim?.close();
    await b?.close();
    await a?.close();
    redisA.disconnect();
  });

  it('asks every node once per batch; unreachable, failing, forging and silent nodes make the inquiry partial', async () => {
    const linked = validMyNumber(9001);
    await b.http.post('/v1/linkages').set(hostedAtB.auth).send(linkageBody(linked)).expect(201);
    const numbers = [linked, validMyNumber(9002), validMyNumber(9003), validMyNumber(9004), validMyNumber(9005)];
    // Queued while no worker runs: admitted together, one message per node.
    const ids = await Promise.all(numbers.map(inquire));
    startWorker();
    const views = await Promise.all(ids.map((id) => finalInquiry(a, requester, id, 40_000)));
    views.forEach((view, i) => {
      expect(view.status).toBe('partial');
      expect(view.progress).toEqual({ total: 8, answered: 4, failed: 4 });
      expect(resultsOf(view)).toEqual(expected(numbers[i], i === 0));
    });
    const stats = sim.stats();
    for (const i of HEALTHY) expect(stats.byNode[i]).toMatchObject({ messages: 1, queries: 5 });
    // Retried with backoff, then given up.
    for (const i of [SIM.failing, SIM.silent]) expect(stats.byNode[i].messages).toBe(3);
    expect(worker!.output).toContain('"reason":"forged"');
    // The linkage at node B now says its holder was reported deceased, by node A, on the
    // date and evidence of A's inheritance inquiry.
    const [linkage] = (await b.http.get('/v1/linkages?branchCode=001&accountType=ordinary&accountNumber=0012345').set(hostedAtB.auth)).body.items;
    expect(linkage.holderDeceased).toEqual({
      reportedAt: expect.any(String),
      dateOfDeath: '2026-10-01',
      inquiryId: null,
      reportedByNode: (await a.http.get('/v1/node')).body.nodeId,
      evidence: [{ type: 'legal-heir-information', reference: 'HJ-2026-0001' }],
    });
  });

  it('a node that fails and then recovers is retried with backoff and answers', async () => {
    sim.resetStats();
    const myNumber = validMyNumber(9010);
    const id = await inquire(myNumber);
    await eventually(async () => sim.stats().byNode[SIM.failing]?.messages ?? 0, (n) => n >= 1);
    sim.control({ nodes: [SIM.failing], errorRate: 0 });
    const view = await finalInquiry(a, requester, id, 40_000);
    expect(resultsOf(view)).toEqual(expected(myNumber, false, [...HEALTHY, SIM.failing]));
    sim.control({ nodes: [SIM.failing], errorRate: 1 });
  });

  it("a node whose quota for us is spent (429, Retry-After) is asked again only once the wait it asked for has passed", async () => {
    sim.resetStats();
    // Four seconds, where the schedule alone would retry after PEER_RETRY_BACKOFF_MS (one).
    sim.control({ nodes: [SIM.failing], errorRate: 0, quotaRate: 1, retryAfterSeconds: 4 });
    const myNumber = validMyNumber(9015);
    const id = await inquire(myNumber);
    // The 429 itself (a message is counted on arrival, its fate after its latency).
    await eventually(async () => sim.stats().faults.quota, (n) => n >= 1);
    const refusedAt = Date.now();
    expect(sim.stats().faults.quota).toBe(1);
    sim.control({ nodes: [SIM.failing], quotaRate: 0 });
    await eventually(async () => sim.stats().byNode[SIM.failing]?.messages ?? 0, (n) => n >= 2, 20_000);
    // Seen up to one poll (100 ms) late each time: the retry came at least ~4 s after the 429.
    expect(Date.now() - refusedAt).toBeGreaterThanOrEqual(3_500);
    const view = await finalInquiry(a, requester, id, 40_000);
    expect(resultsOf(view)).toEqual(expected(myNumber, false, [...HEALTHY, SIM.failing]));
    sim.control({ nodes: [SIM.failing], errorRate: 1 });
  });

  it('a worker killed with SIGKILL mid-fan-out: a new worker finishes every inquiry with the same results', async () => {
    sim.resetStats();
    sim.control({ nodes: HEALTHY, latencyMs: 4000 });
    const numbers = [validMyNumber(9020), validMyNumber(9021), validMyNumber(9022)];
    const ids = await Promise.all(numbers.map(inquire));
    await eventually(async () => sim.stats().byNode[0]?.messages ?? 0, (n) => n >= 1, 20_000);
    expect(await worker!.kill('SIGKILL')).toBe('SIGKILL');
    sim.control({ nodes: HEALTHY, latencyMs: 20 });
    startWorker();
    const views = await Promise.all(ids.map((id) => finalInquiry(a, requester, id, 50_000)));
    views.forEach((view, i) => expect(resultsOf(view)).toEqual(expected(numbers[i], false)));
  });

  it('Redis flushed mid-fan-out: the reconciler re-enqueues and every inquiry completes with the same results', async () => {
    sim.control({ nodes: HEALTHY, latencyMs: 3000 });
    const numbers = [validMyNumber(9030), validMyNumber(9031)];
    sim.resetStats();
    const ids = await Promise.all(numbers.map(inquire));
    await eventually(async () => sim.stats().byNode[1]?.messages ?? 0, (n) => n >= 1, 20_000);
    await redisA.flushdb();
    sim.control({ nodes: HEALTHY, latencyMs: 20 });
    const views = await Promise.all(ids.map((id) => finalInquiry(a, requester, id, 50_000)));
    views.forEach((view, i) => expect(resultsOf(view)).toEqual(expected(numbers[i], false)));
    expect(worker!.output).toContain('reconciled inquiries with the queue');
  });

  it('an inquiry past its deadline is final (partial), never stuck waiting', async () => {
    await worker!.kill('SIGTERM');
    const id = await inquire(validMyNumber(9040));
    // Time passes while no worker runs.
    await a.db.query(`UPDATE inquiries SET deadline_at = now() WHERE id = $1`, [id]);
    startWorker();
    const view = await finalInquiry(a, requester, id, 30_000);
    expect(view.status).toBe('partial');
    expect(view.results.every((r: { status: string }) => r.status === 'unreachable')).toBe(true);
  });

  it('job payloads in Redis carry ids only', async () => {
    sim.control({ nodes: HEALTHY, latencyMs: 2000 });
    const myNumber = validMyNumber(9050);
    const id = await inquire(myNumber);
    await eventually(async () => sim.stats().byNode[0]?.messages ?? 0, (n) => n >= 1, 20_000);
    const keys = await redisA.keys('*');
    let dump = '';
    for (const key of keys) {
      const type = await redisA.type(key);
      if (type === 'hash') dump += JSON.stringify(await redisA.hgetall(key));
      else if (type === 'string') dump += await redisA.get(key);
    }
    expect(keys.some((key) => key.includes(':fanout-'))).toBe(true);
    expect(dump).toContain('fanoutId');
    expect(dump).not.toContain(myNumber);
    sim.control({ nodes: HEALTHY, latencyMs: 20 });
    await finalInquiry(a, requester, id, 30_000);
  });
});
