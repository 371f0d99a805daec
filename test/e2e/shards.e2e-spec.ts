import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { federate, type FederationReport } from '../../src/peers/federation.js';
import { databaseText } from './support/database-text.js';
import { finalInquiry, inheritanceBody } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { ADMIN_KEY, eventually, linkageBody, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';
import { WorkerProcess } from './support/worker-process.js';

/**
 * Nodes as shards: one centre's institutions split over three kouza-hub nodes A, B and
 * C, each with its own database, queue prefix and worker process, federated with
 * `federate()` (what `npm run peers:federate` runs). Each node is reached by the
 * others through a TCP proxy of its own, so that a test can take one node off the
 * network while its API and worker keep running.
 */
const LAYOUT = {
  a: ['0101', '0102'],
  b: ['0201', '0202'],
  c: ['0301'],
} as const;
type Shard = keyof typeof LAYOUT;
const SHARDS: Shard[] = ['a', 'b', 'c'];
const ALL_CODES = [...LAYOUT.a, ...LAYOUT.b, ...LAYOUT.c];

/** The depositor's accounts, institution by institution (none at 0102). */
const ACCOUNTS: Record<string, { branchCode: string; accountType: string; accountNumber: string }[]> = {
  '0101': [{ branchCode: '101', accountType: 'ordinary', accountNumber: '1010001' }],
  '0201': [{ branchCode: '201', accountType: 'ordinary', accountNumber: '2010001' }],
  '0202': [
    { branchCode: '202', accountType: 'savings', accountNumber: '2020001' },
    { branchCode: '202', accountType: 'current', accountNumber: '2020002' },
  ],
  '0301': [{ branchCode: '301', accountType: 'ordinary', accountNumber: '3010001' }],
};

/** The first port from `from` (within this spec's range, below 24000) that nothing listens on. */
async function freePort(from: number): Promise<number> {
  for (let port = from; port < 24_000; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port from ${from} to 23999`);
}

interface Node {
  shard: Shard;
  t: TestApp;
  apiUrl: string;
  proxy: TcpProxy;
  worker: WorkerProcess;
  nodeId: string;
  /** Its hosted institutions, each with an API key. */
  banks: Record<string, TestInstitution>;
}

describe('nodes as shards', () => {
  const nodes = {} as Record<Shard, Node>;
  let report: FederationReport;
  const depositor = validMyNumber(71_000_001);
  const stranger = validMyNumber(71_000_002);

  const env = {
    PEER_BATCH_WAIT_MS: '50',
    // Generous: the three nodes and their workers share this test's machine.
    PEER_REQUEST_TIMEOUT_MS: '3000',
    PEER_RETRY_ATTEMPTS: '3',
    PEER_RETRY_BACKOFF_MS: '1000',
    PEER_NODE_DEADLINE_SECONDS: '20',
    INQUIRY_DEADLINE_SECONDS: '60',
    RECONCILE_INTERVAL_MS: '500',
    JOB_LOCK_DURATION_MS: '2000',
  };

  /** An inheritance inquiry for `myNumber` made at `node` by its first institution; its final view. */
  const inquireAt = async (node: Node, myNumber: string) => {
    const bank = node.banks[LAYOUT[node.shard][0]];
    const id = (await node.t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(myNumber)).expect(202)).body.id as string;
    return { id, view: await finalInquiry(node.t, bank, id, 45_000) };
  };
  /** The results, each institution's accounts in account-number order (the answer's order is not specified). */
  const resultsOf = (view: any) =>
    view.results.map((r: any) => ({
      institutionCode: r.institutionCode,
      status: r.status,
      accounts: [...r.accounts].sort((x: any, y: any) => x.accountNumber.localeCompare(y.accountNumber)),
    }));
  /** Every institution of the centre, with the depositor's accounts; `unreachable` codes as such. */
  const everyAccount = (unreachable: string[] = []) =>
    ALL_CODES.map((code) =>
      unreachable.includes(code)
        ? { institutionCode: code, status: 'unreachable', accounts: [] }
        : ACCOUNTS[code]
          ? { institutionCode: code, status: 'found', accounts: ACCOUNTS[code] }
          : { institutionCode: code, status: 'not-found', accounts: [] },
    );
  /** The linkage of one of the depositor's accounts, as its institution reads it. */
  const linkageOf = async (code: string) => {
    const node = nodes[SHARDS.find((s) => (LAYOUT[s] as readonly string[]).includes(code))!];
    const { branchCode, accountType, accountNumber } = ACCOUNTS[code][0];
    const res = await node.t.http
      .get(`/v1/linkages?branchCode=${branchCode}&accountType=${accountType}&accountNumber=${accountNumber}`)
      .set(node.banks[code].auth)
      .expect(200);
    return res.body.items[0];
  };
  const peerAttempts = (node: Node) => (node.worker.output.match(/peer node did not answer/g) ?? []).length;

  beforeAll(async () => {
    let nextPort = 23_100;
    for (const shard of SHARDS) {
      const t = await startTestApp({ env });
      const port = await freePort(nextPort);
      await t.app.listen({ port, host: '127.0.0.1' });
      const proxy = new TcpProxy('127.0.0.1', port);
      await proxy.start(await freePort(port + 1));
      nextPort = proxy.port + 1;
      const nodeId = (await t.http.get('/v1/node').expect(200)).body.nodeId;
      nodes[shard] = { shard, t, apiUrl: `http://127.0.0.1:${port}`, proxy, worker: undefined as unknown as WorkerProcess, nodeId, banks: {} };
    }
    // The federation creates each node's institutions, then registers every node at the other two.
    report = await federate(
      SHARDS.map((s) => ({
        apiUrl: nodes[s].apiUrl,
        endpointUrl: `http://127.0.0.1:${nodes[s].proxy.port}/`,
        adminKey: ADMIN_KEY,
        institutions: LAYOUT[s].map((code) => ({ code, name: `Shinkin ${code}` })),
      })),
    );
    for (const shard of SHARDS) {
      const node = nodes[shard];
      for (const code of LAYOUT[shard]) {
        const key = await node.t.http
          .post(`/v1/institutions/${code}/api-keys`)
          .set(node.t.admin)
          .send({ name: 'teller', scopes: ['linkages:write', 'linkages:read', 'inquiries:write', 'inquiries:read'] })
          .expect(201);
        node.banks[code] = { id: '', code, key: key.body.key, auth: { Authorization: `Bearer ${key.body.key}` } };
        if (ACCOUNTS[code]) {
          await node.t.http.post('/v1/linkages').set(node.banks[code].auth).send(linkageBody(depositor, { accounts: ACCOUNTS[code] })).expect(201);
        }
      }
      node.worker = new WorkerProcess({ ...node.t.env, LOG_LEVEL: 'info' });
    }
  }, 120_000);

  afterAll(async () => {
    for (const shard of SHARDS) {
      const node = nodes[shard];
      if (!node) continue;
      await node.worker?.kill('SIGKILL');
      await node.proxy.stop();
      await node.t.close();
    }
  });

  it('federates: every node knows the other two, with the institutions each hosts, and a second run only updates', async () => {
    expect(report.nodes.map((n) => n.institutions)).toEqual([[...LAYOUT.a], [...LAYOUT.b], [...LAYOUT.c]]);
    expect(report.nodes.map((n) => n.created)).toEqual([[...LAYOUT.a], [...LAYOUT.b], [...LAYOUT.c]]);
    expect(report.registrations.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201]);
    for (const shard of SHARDS) {
      const node = nodes[shard];
      const peers = (await node.t.http.get('/v1/peers').set(node.t.admin).expect(200)).body.items;
      const expected = SHARDS.filter((s) => s !== shard).map((s) => ({
        nodeId: nodes[s].nodeId,
        endpointUrl: `http://127.0.0.1:${nodes[s].proxy.port}`,
        institutions: LAYOUT[s].map((code) => ({ code, name: `Shinkin ${code}` })),
      }));
      expect(peers.map((p: any) => ({ nodeId: p.nodeId, endpointUrl: p.endpointUrl, institutions: p.institutions }))).toEqual(
        expect.arrayContaining(expected),
      );
      expect(peers).toHaveLength(2);
    }
    // Run again: the same registrations, sent again (200), nothing created twice.
    const again = await federate(SHARDS.map((s) => ({ apiUrl: nodes[s].apiUrl, endpointUrl: `http://127.0.0.1:${nodes[s].proxy.port}`, adminKey: ADMIN_KEY })));
    expect(again.registrations.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(again.nodes.map((n) => n.institutions)).toEqual(report.nodes.map((n) => n.institutions));
  });

  it('an inheritance inquiry at A finds the accounts on all three nodes; each node records the death as the protocol says', async () => {
    const { id, view } = await inquireAt(nodes.a, depositor);
    expect(view.status).toBe('completed');
    expect(resultsOf(view)).toEqual(everyAccount());

    // At A, where the inquiry was made: reported by the inquiry itself.
    expect((await linkageOf('0101')).holderDeceased).toEqual({
      reportedAt: expect.any(String),
      dateOfDeath: '2026-10-01',
      inquiryId: id,
      reportedByNode: null,
      evidence: [{ type: 'legal-heir-information', reference: 'HJ-2026-0001' }],
    });
    // At B and C: reported by node A, from the claim of death its query carried.
    for (const code of ['0201', '0202', '0301']) {
      expect((await linkageOf(code)).holderDeceased).toEqual({
        reportedAt: expect.any(String),
        dateOfDeath: '2026-10-01',
        inquiryId: null,
        reportedByNode: nodes.a.nodeId,
        evidence: [{ type: 'legal-heir-information', reference: 'HJ-2026-0001' }],
      });
    }
    // B and C each audited the peer query they answered, naming A.
    for (const shard of ['b', 'c'] as const) {
      const rows = await nodes[shard].t.db.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'peer.location.answered' AND details ->> 'peerNodeId' = $1 AND (details ->> 'found')::int > 0`,
        [nodes.a.nodeId],
      );
      expect(rows[0].n).toBe(LAYOUT[shard].filter((code) => ACCOUNTS[code]).length);
    }
  });

  it.each<[Shard]>([['b'], ['c']])('the same inquiry made at %s finds exactly the same accounts; the first report of the death is kept', async (shard) => {
    const { view } = await inquireAt(nodes[shard], depositor);
    expect(view.status).toBe('completed');
    expect(resultsOf(view)).toEqual(everyAccount());
    for (const code of ['0201', '0202', '0301']) expect((await linkageOf(code)).holderDeceased.reportedByNode).toBe(nodes.a.nodeId);
  });

  it('a number held nowhere is not-found at every institution of every node', async () => {
    const { view } = await inquireAt(nodes.b, stranger);
    expect(view.status).toBe('completed');
    expect(resultsOf(view)).toEqual(ALL_CODES.map((code) => ({ institutionCode: code, status: 'not-found', accounts: [] })));
  });

  let partialId: string;

  it('node C down: the inquiry at A ends partial, C’s institution unreachable and C named as the node that did not answer', async () => {
    nodes.c.proxy.cut();
    const { id, view } = await inquireAt(nodes.a, depositor);
    partialId = id;
    expect(view.status).toBe('partial');
    expect(view.progress).toEqual({ total: 5, answered: 4, failed: 1 });
    expect(resultsOf(view)).toEqual(everyAccount([...LAYOUT.c]));
    // A's record of the fan-out names the node: the answer row of C's peer id, unreachable, why.
    const peerC = (await nodes.a.t.http.get(`/v1/peers/${nodes.c.nodeId}`).set(nodes.a.t.admin).expect(200)).body;
    const rows = await nodes.a.t.db.query(`SELECT node_id, status, failure FROM inquiry_answers WHERE inquiry_id = $1 AND status = 'unreachable'`, [id]);
    expect(rows).toEqual([{ node_id: peerC.id, status: 'unreachable', failure: 'network' }]);
    // Retried before it was given up.
    expect(nodes.a.worker.output).toMatch(new RegExp(`"peer":"${nodes.c.nodeId}"[^\\n]*"attempt":3[^\\n]*"last":true`));
  });

  it('node C back before the retries run out: the inquiry completes with every account', async () => {
    const before = peerAttempts(nodes.b);
    const bank = nodes.b.banks['0201'];
    const id = (await nodes.b.t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(depositor)).expect(202)).body.id as string;
    // The first attempt fails; C comes back before the retry.
    await eventually(async () => peerAttempts(nodes.b), (n) => n > before, 30_000);
    nodes.c.proxy.restore();
    const view = await finalInquiry(nodes.b.t, bank, id, 45_000);
    expect(view.status).toBe('completed');
    expect(resultsOf(view)).toEqual(everyAccount());
    expect(nodes.b.worker.output).toMatch(/"reason":"network","attempt":1,"last":false/);
  });

  it('an inquiry already final stays partial once C is back (nothing asks again); a new inquiry completes', async () => {
    const { view } = await inquireAt(nodes.a, depositor);
    expect(view.status).toBe('completed');
    // Several reconciler intervals later the partial one is as it was.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const bank = nodes.a.banks['0101'];
    const old = (await nodes.a.t.http.get(`/v1/inquiries/${partialId}`).set(bank.auth).expect(200)).body;
    expect(old.status).toBe('partial');
    expect(resultsOf(old)).toEqual(everyAccount([...LAYOUT.c]));
  });

  it('no number is in clear in any node’s database or log', async () => {
    for (const shard of SHARDS) {
      const { lines } = await databaseText(nodes[shard].t.db.pool);
      for (const line of lines) for (const n of [depositor, stranger]) expect(line).not.toContain(n);
      const logs = nodes[shard].t.logs.text + nodes[shard].worker.output;
      for (const n of [depositor, stranger]) expect(logs).not.toContain(n);
    }
  });
});
