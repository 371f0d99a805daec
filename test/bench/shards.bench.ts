import { Redis } from 'ioredis';
import type pg from 'pg';
import { myNumberCheckDigit } from '../../src/common/my-number/my-number.js';
import { federate } from '../../src/peers/federation.js';
import { ANSWERS_OF_INQUIRIES, createBenchDatabase, openPool, type BenchDatabase } from './support/bench-database.js';
import { cleanup } from './support/cleanup.js';
import { createInstitutionKey, startBenchApi, startBenchWorker, type BenchApi, type BenchWorker } from './support/kouza-api.js';
import { mapConcurrently } from './support/load.js';
import { measureCpu, pidsByName, type CpuShare } from './support/proc.js';
import { describeMachine, fmt, machineInfo, printTable, timestamp, writeResults } from './support/report.js';
import { getJson, postJson } from './support/service-process.js';
import { positive } from './support/settings.js';
import { summarizeLatencies, type LatencySummary } from './support/stats.js';

/**
 * Nodes as shards: the same institutions and accounts hosted by one kouza-hub node, then
 * split over BENCH_SHARD_NODES nodes (each its own API, worker, database and queue
 * prefix) federated by the peer protocol. For each layout: one inquiry at a time at the
 * first node (its completion time, and how long the hosted and the peer answers took),
 * then a burst spread over every node (time until all are final). Every inquiry names a
 * depositor with an account at every institution, so every institution answers `found`.
 */

const SUITE = 'shards';
const FINAL = new Set(['completed', 'partial', 'rejected']);
const POLL_MS = 20;
const BURST_POLL_MS = 100;
const PROGRESS_EVERY_MS = 5000;
/** The bench's services listen from here on (the e2e specs use other ports). */
const PORT_FROM = 23_500;
const HOSTED = '00000000-0000-0000-0000-000000000000';

interface InquiryView {
  id: string;
  status: string;
  progress: { total: number; answered: number; failed: number };
  results: { institutionCode: string; status: string; accounts: unknown[] }[];
}

interface BenchNode {
  label: string;
  db: BenchDatabase;
  pool: pg.Pool;
  api: BenchApi;
  worker: BenchWorker;
  queuePrefix: string;
  codes: string[];
  /** The first hosted institution's key: the inquiries made at this node are its. */
  requesterKey: string;
}

interface Layout {
  name: string;
  nodes: BenchNode[];
  institutions: number;
}

const myNumberOf = (n: number) => {
  const first11 = String(30_000_000_000 + n);
  return first11 + myNumberCheckDigit(first11);
};
const SUBJECT = { nameKana: 'ヤマダ タロウ', birthDate: '1940-04-01' };

function inquiryBody(depositor: number): Record<string, unknown> {
  return {
    kind: 'inheritance',
    branchCode: '001',
    operatorId: 'BENCH1',
    subject: { myNumber: myNumberOf(depositor), ...SUBJECT, dateOfDeath: '2026-01-10' },
    applicant: { relationship: 'heir', name: '山田 花子' },
    evidence: [{ type: 'legal-heir-information', reference: 'BENCH-0001' }],
  };
}

function linkageBody(depositor: number): Record<string, unknown> {
  return {
    branchCode: '001',
    operatorId: 'BENCH1',
    subject: { myNumber: myNumberOf(depositor), ...SUBJECT },
    accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: String(depositor + 1).padStart(7, '0') }],
    verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' },
    consentAt: new Date(Date.now() - 60_000).toISOString(),
  };
}

/** BullMQ keys of one node (its own queue prefix), removed at the end. */
async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const pattern = `${prefix.replace(/[[\]*?\\]/g, '\\$&')}:*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * One layout: `split` lists each node's institution codes. Each node gets its database,
 * API, worker, institutions (with a key each) and every depositor's account at each
 * institution; then, with more than one node, they are federated.
 */
async function startLayout(name: string, split: string[][], stamp: string, depositors: number): Promise<Layout> {
  const nodes: BenchNode[] = [];
  for (const [i, codes] of split.entries()) {
    const label = split.length === 1 ? name : `${name}-${String.fromCharCode(97 + i)}`;
    const db = await createBenchDatabase(`kouza_bench_${stamp}_${label.replace(/-/g, '_')}`);
    cleanup.add(`drop the bench database ${db.name}`, () => db.drop());
    const pool = openPool(db.ownerUrl, 2);
    cleanup.add(`close the pool of ${db.name}`, () => pool.end());
    const queuePrefix = `{kouza-bench-${stamp}-${label}}`;
    const api = await startBenchApi(
      db.url,
      {
        QUEUE_PREFIX: queuePrefix,
        // One API process per node in both layouts: the comparison is of the layout, not of the process count.
        API_PROCESSES: process.env.API_PROCESSES ?? '1',
        // Several workers on one machine: no fixed metrics port.
        WORKER_METRICS_PORT: '0',
      },
      { portFrom: PORT_FROM },
    );
    cleanup.add(`remove the queue keys of ${label}`, () => dropQueueKeys(api.env.REDIS_URL ?? 'redis://127.0.0.1:6379', queuePrefix));
    const keys = new Map<string, string>();
    for (const code of codes) keys.set(code, await createInstitutionKey(api, code, ['linkages:write', 'inquiries:write', 'inquiries:read']));
    // Every depositor holds an account at every institution: each answer of a node carries accounts.
    const attachments = codes.flatMap((code) => Array.from({ length: depositors }, (_, d) => ({ code, d })));
    await mapConcurrently(attachments, 8, ({ code, d }) => postJson(`${api.process.baseUrl}/v1/linkages`, linkageBody(d), keys.get(code)));
    const worker = await startBenchWorker(api);
    nodes.push({ label, db, pool, api, worker, queuePrefix, codes, requesterKey: keys.get(codes[0])! });
  }
  if (nodes.length > 1) {
    await federate(nodes.map((n) => ({ apiUrl: n.api.process.baseUrl, endpointUrl: n.api.process.baseUrl, adminKey: n.api.adminKey })));
  }
  return { name, nodes, institutions: split.flat().length };
}

async function stopLayout(layout: Layout): Promise<void> {
  for (const node of layout.nodes) {
    await node.worker.process.stop();
    await node.api.process.stop();
  }
}

/** Peer queries answered by each node so far (one audit row per query answered). */
async function peerQueriesAnswered(layout: Layout): Promise<number[]> {
  return Promise.all(
    layout.nodes.map(async (n) => {
      const { rows } = await n.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'peer.location.answered'`);
      return rows[0].n;
    }),
  );
}

interface PhaseCpu {
  cpu: CpuShare;
  wallS: number;
}

/** CPU of every node's API and worker, of Postgres (the layout's databases) and Redis, around `body`. */
async function withCpu<T>(layout: Layout, body: () => Promise<T>): Promise<{ result: T; phase: PhaseCpu }> {
  const processes: Record<string, number | number[]> = { redis: pidsByName('redis-server') };
  for (const n of layout.nodes) {
    processes[`api ${n.label}`] = n.api.process.pid;
    processes[`worker ${n.label}`] = n.worker.process.pid;
  }
  const t0 = performance.now();
  const cpu = measureCpu({ database: layout.nodes.map((n) => n.db.name), processes });
  const result = await body();
  return { result, phase: { cpu: cpu.stop(), wallS: (performance.now() - t0) / 1000 } };
}

/** Every institution found the depositor's one account. */
function checkFoundEverywhere(view: InquiryView, institutions: number): void {
  const found = view.results.filter((r) => r.status === 'found' && r.accounts.length === 1).length;
  if (view.status !== 'completed' || view.progress.total !== institutions || found !== institutions) {
    throw new Error(`inquiry ${view.id} ended ${view.status} with ${JSON.stringify(view.progress)} and ${found} found; expected ${institutions}`);
  }
}

interface LayoutResult {
  layout: string;
  nodes: number;
  single: { latency: LatencySummary; hostedAnswerP50Ms: number; peerAnswerP50Ms?: number; cpu: PhaseCpu };
  burst: {
    inquiries: number;
    postedS: number;
    totalS: number;
    latency: LatencySummary;
    outcome: Record<string, number>;
    perNode: { label: string; inquiries: number; peerQueriesAnswered: number }[];
    cpu: PhaseCpu;
  };
}

async function measureLayout(
  layout: Layout,
  settings: { singleRuns: number; burst: number; burstConcurrency: number; depositors: number; singleTimeoutS: number; burstTimeoutS: number },
): Promise<LayoutResult> {
  const first = layout.nodes[0];
  let nextDepositor = 0;
  const depositor = () => nextDepositor++ % settings.depositors;

  const inquireOnce = async (): Promise<{ id: string; ms: number }> => {
    const base = first.api.process.baseUrl;
    const t0 = performance.now();
    const { id } = await postJson<{ id: string }>(`${base}/v1/inquiries`, inquiryBody(depositor()), first.requesterKey);
    const deadline = t0 + settings.singleTimeoutS * 1000;
    for (;;) {
      const view = await getJson<InquiryView>(`${base}/v1/inquiries/${id}`, first.requesterKey);
      if (FINAL.has(view.status)) {
        const ms = performance.now() - t0;
        checkFoundEverywhere(view, layout.institutions);
        return { id, ms };
      }
      if (performance.now() > deadline) throw new Error(`inquiry ${id} not final after ${settings.singleTimeoutS} s`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };

  // --- 1. One inquiry at a time, at the first node ---
  const warmup = await inquireOnce();
  console.log(`${layout.name}: warm-up inquiry ${fmt(warmup.ms, 0)} ms (not counted)`);
  const single = await withCpu(layout, async () => {
    const runs: { id: string; ms: number }[] = [];
    for (let i = 0; i < settings.singleRuns; i++) runs.push(await inquireOnce());
    return runs;
  });
  const latency = summarizeLatencies(single.result.map((r) => r.ms));
  // How long after the fan-out began the hosted answer, and the last peer answer, were written (database clock).
  const { rows: stageRows } = await first.pool.query<{ hosted: number; peers: number | null }>(
    `SELECT extract(epoch FROM max(a.answered_at) FILTER (WHERE a.node_id = $2) - i.started_at) * 1000 AS hosted,
            extract(epoch FROM max(a.answered_at) FILTER (WHERE a.node_id <> $2) - i.started_at) * 1000 AS peers
       FROM inquiries i JOIN (${ANSWERS_OF_INQUIRIES}) a ON a.inquiry_id = i.id
      WHERE i.id = ANY ($1::uuid[]) GROUP BY i.id, i.started_at`,
    [single.result.map((r) => r.id), HOSTED],
  );
  const hostedAnswerP50Ms = summarizeLatencies(stageRows.map((r) => Number(r.hosted))).p50;
  const peerValues = stageRows.filter((r) => r.peers !== null).map((r) => Number(r.peers));
  const peerAnswerP50Ms = peerValues.length ? summarizeLatencies(peerValues).p50 : undefined;
  console.log(
    `${layout.name}: single p50 ${fmt(latency.p50, 0)} ms, p99 ${fmt(latency.p99, 0)} ms; hosted answer written ${fmt(hostedAnswerP50Ms, 0)} ms ` +
      `after the fan-out began, last peer answer ${fmt(peerAnswerP50Ms, 0)} ms (p50)`,
  );

  // --- 2. A burst, spread over every node (each node's requester) ---
  const queriesBefore = await peerQueriesAnswered(layout);
  const burst = await withCpu(layout, async () => {
    const t0 = performance.now();
    const made = await mapConcurrently(Array.from({ length: settings.burst }), settings.burstConcurrency, async (_, i) => {
      const node = layout.nodes[i % layout.nodes.length];
      const { id } = await postJson<{ id: string }>(`${node.api.process.baseUrl}/v1/inquiries`, inquiryBody(depositor()), node.requesterKey);
      return { node, id };
    });
    const postedS = (performance.now() - t0) / 1000;
    console.log(`${layout.name}: burst of ${made.length} accepted in ${fmt(postedS, 2)} s`);
    const byNode = layout.nodes.map((node) => ({ node, ids: made.filter((m) => m.node === node).map((m) => m.id) }));
    const deadline = t0 + settings.burstTimeoutS * 1000;
    let lastReport = performance.now();
    for (;;) {
      let final = 0;
      for (const { node, ids } of byNode) {
        const { rows } = await node.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM inquiries WHERE id = ANY ($1::uuid[]) AND completed_at IS NOT NULL',
          [ids],
        );
        final += rows[0].n;
      }
      const now = performance.now();
      if (final === made.length) return { byNode, postedS, totalS: (now - t0) / 1000 };
      if (now > deadline) throw new Error(`burst: ${final}/${made.length} final after ${settings.burstTimeoutS} s`);
      if (now - lastReport >= PROGRESS_EVERY_MS) {
        console.log(`${layout.name}: burst ${final}/${made.length} final after ${fmt((now - t0) / 1000, 0)} s`);
        lastReport = now;
      }
      await new Promise((resolve) => setTimeout(resolve, BURST_POLL_MS));
    }
  });
  const queriesAfter = await peerQueriesAnswered(layout);
  const outcome: Record<string, number> = { completed: 0, partial: 0, rejected: 0 };
  const latencies: number[] = [];
  for (const { node, ids } of burst.result.byNode) {
    const { rows } = await node.pool.query<{ status: string; ms: number }>(
      `SELECT status, extract(epoch FROM completed_at - created_at) * 1000 AS ms FROM inquiries WHERE id = ANY ($1::uuid[])`,
      [ids],
    );
    for (const row of rows) {
      outcome[row.status] = (outcome[row.status] ?? 0) + 1;
      latencies.push(Number(row.ms));
    }
  }
  const burstLatency = summarizeLatencies(latencies);
  console.log(
    `${layout.name}: burst all final ${fmt(burst.result.totalS, 2)} s after the first POST; ${JSON.stringify(outcome)}; ` +
      `p50 ${fmt(burstLatency.p50, 0)} ms, p99 ${fmt(burstLatency.p99, 0)} ms`,
  );
  return {
    layout: layout.name,
    nodes: layout.nodes.length,
    single: { latency, hostedAnswerP50Ms, peerAnswerP50Ms, cpu: single.phase },
    burst: {
      inquiries: settings.burst,
      postedS: burst.result.postedS,
      totalS: burst.result.totalS,
      latency: burstLatency,
      outcome,
      perNode: burst.result.byNode.map(({ node, ids }, i) => ({ label: node.label, inquiries: ids.length, peerQueriesAnswered: queriesAfter[i] - queriesBefore[i] })),
      cpu: burst.phase,
    },
  };
}

/** The CPU of one phase, % of one core: each node's API + worker, Postgres, Redis, the bench, the rest. */
function cpuCells(layout: Layout, phase: PhaseCpu): string[] {
  const c = phase.cpu;
  const perNode = layout.nodes.map((n) => `${fmt((c.processesPct[`api ${n.label}`] ?? 0) + (c.processesPct[`worker ${n.label}`] ?? 0), 0)}`);
  return [perNode.join(' / '), fmt(c.postgresPct, 0), fmt(c.processesPct.redis, 0), fmt(c.benchPct, 0), fmt(c.otherPct, 0)];
}

export async function run(): Promise<void> {
  const settings = {
    shardNodes: positive('BENCH_SHARD_NODES', 3),
    institutionsPerNode: positive('BENCH_INSTITUTIONS_PER_NODE', 3),
    depositors: positive('BENCH_DEPOSITORS', 50),
    singleRuns: positive('BENCH_SINGLE_RUNS', 20),
    burst: positive('BENCH_BURST', 200),
    burstConcurrency: positive('BENCH_BURST_CONCURRENCY', 20),
    burstTimeoutS: positive('BENCH_BURST_TIMEOUT_SECONDS', 300),
    singleTimeoutS: positive('BENCH_SINGLE_TIMEOUT_SECONDS', 120),
  };
  const stamp = timestamp();
  const startedAt = new Date().toISOString();
  // Node i hosts institutions 9i01, 9i02, ...: the same codes in both layouts.
  const split = Array.from({ length: settings.shardNodes }, (_, i) =>
    Array.from({ length: settings.institutionsPerNode }, (_, j) => `9${i + 1}${String(j + 1).padStart(2, '0')}`),
  );

  console.log(
    `kouza-hub bench: ${SUITE} — ${split.flat().length} institutions (${settings.depositors} depositors with an account at each) ` +
      `hosted by one node, then split over ${settings.shardNodes} federated nodes; ${settings.singleRuns} single inquiries at the first node ` +
      `(after one warm-up), then a burst of ${settings.burst} (${settings.burstConcurrency} POSTs at a time, round-robin over the nodes)`,
  );

  const layouts: { layout: Layout; result: LayoutResult }[] = [];
  for (const [name, layoutSplit] of [
    ['one node', [split.flat()]],
    [`${settings.shardNodes} nodes`, split],
  ] as const) {
    const started = performance.now();
    const layout = await startLayout(name.replace(' ', '-'), layoutSplit as string[][], stamp, settings.depositors);
    layout.name = name;
    if (layouts.length === 0) console.log(describeMachine(await machineInfo(layout.nodes[0].pool)) + ', and so do every node\'s worker');
    console.log(`${name}: ${layout.nodes.length} node(s) started, institutions and ${layout.institutions * settings.depositors} accounts attached in ${fmt((performance.now() - started) / 1000)} s`);
    const result = await measureLayout(layout, settings);
    await stopLayout(layout);
    layouts.push({ layout, result });
  }
  const machine = await machineInfo(layouts[0].layout.nodes[0].pool);

  console.log('\nCompletion time per inquiry (ms; single: POST to the first final poll at the first node, every 20 ms; burst: created_at to completed_at)\n');
  printTable(
    ['layout', 'phase', 'inquiries', 'p50 ms', 'p99 ms', 'max ms', 'all final s', 'inquiries/s'],
    layouts.flatMap(({ result: r }) => [
      [r.layout, 'single', r.single.latency.count, fmt(r.single.latency.p50, 0), fmt(r.single.latency.p99, 0), fmt(r.single.latency.max, 0), '—', '—'],
      [r.layout, 'burst', r.burst.inquiries, fmt(r.burst.latency.p50, 0), fmt(r.burst.latency.p99, 0), fmt(r.burst.latency.max, 0), fmt(r.burst.totalS, 2), fmt(r.burst.inquiries / r.burst.totalS)],
    ]),
  );
  console.log('\nA single inquiry at the first node, p50 (ms after its fan-out began, database clock): the hosted answer written, the last peer answer written\n');
  printTable(
    ['layout', 'hosted answer ms', 'last peer answer ms'],
    layouts.map(({ result: r }) => [r.layout, fmt(r.single.hostedAnswerP50Ms, 0), fmt(r.single.peerAnswerP50Ms, 0)]),
  );
  console.log('\nBurst per node: inquiries made there; look-ups it answered for the other nodes (one audit row per institution matched, or one per query that matched none)\n');
  printTable(
    ['layout', 'node', 'inquiries made there', 'peer look-ups answered (audit rows)'],
    layouts.flatMap(({ result: r }) => r.burst.perNode.map((n) => [r.layout, n.label, n.inquiries, n.peerQueriesAnswered])),
  );
  console.log(
    `\nCPU during each phase, % of one core (${machine.nproc} cores = ${machine.nproc * 100}%); per node: its API + its worker; ` +
      '"other" is everything else on the machine: high values mean the run was disturbed\n',
  );
  printTable(
    ['layout', 'phase', 'nodes (API+worker)', 'Postgres', 'Redis', 'bench', 'other'],
    layouts.flatMap(({ layout, result: r }) => [
      [r.layout, 'single', ...cpuCells(layout, r.single.cpu)],
      [r.layout, 'burst', ...cpuCells(layout, r.burst.cpu)],
    ]),
  );
  const allCompleted = layouts.every(({ result: r }) => r.burst.outcome.completed === r.burst.inquiries);
  console.log(`\ncheck: every burst inquiry completed, in both layouts: ${allCompleted ? 'PASS' : 'FAIL'}`);
  if (!allCompleted) process.exitCode = 1;

  const file = writeResults(SUITE, stamp, {
    suite: SUITE,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    settings: { ...settings, split, apiProcessesPerNode: layouts[0].layout.nodes[0].api.processes },
    layouts: layouts.map((l) => l.result),
    summary: { allCompleted },
  });
  console.log(`\nresults written to ${file}`);
}
