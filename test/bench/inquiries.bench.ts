import type pg from 'pg';
import { myNumberCheckDigit } from '../../src/common/my-number/my-number.js';
import { HOSTED_NODE_ID } from '../../src/inquiries/inquiry.types.js';
import { loadConfig } from '../../src/config/app-config.js';
import { ANSWERS_OF_INQUIRIES, createBenchDatabase, openPool } from './support/bench-database.js';
import { cleanup } from './support/cleanup.js';
import { createInstitutionKey, startBenchApi, startBenchWorker, type BenchApi } from './support/kouza-api.js';
import { mapConcurrently } from './support/load.js';
import { registerSimulatedPeers, startBenchSimulator, type BenchSimulator } from './support/peer-simulator.js';
import { measureCpu, pidsByName, sampleRss, type CpuShare } from './support/proc.js';
import { commandsPerMaster, distribution, dropQueueKeys, type MasterShare } from './support/redis-distribution.js';
import { describeMachine, fmt, machineInfo, printTable, timestamp, writeResults } from './support/report.js';
import { getJson, postJson } from './support/service-process.js';
import { positive } from './support/settings.js';
import { summarizeLatencies, type LatencySummary } from './support/stats.js';

/**
 * Inquiries fanned out to simulated peer nodes: the API, the worker and the simulator
 * each a process of its own. One inquiry at a time (its completion time), then a burst
 * (time until all are final), with the peer messages each needed and the worker's RSS.
 */

const SUITE = 'inquiries';
/** The targets of the node:crypto envelope work (docs/benchmarks.md, inquiries): on the 2-core machine, everything on it. */
const TARGET = { singleP50Ms: 1000, burstS: 20, workerRssMb: 400 };
const INSTITUTION_CODE = '9001';
const FINAL = new Set(['completed', 'partial', 'rejected']);
const POLL_MS = 20;
const BURST_POLL_MS = 100;
const PROGRESS_EVERY_MS = 5000;

interface InquiryView {
  id: string;
  status: string;
  progress: { total: number; answered: number; failed: number };
}

/** A new inheritance inquiry (valid My Number, never used before in the run) on every call. */
function inquiryBodies(): () => Record<string, unknown> {
  let n = 0;
  return () => {
    const first11 = String(20_000_000_000 + ++n);
    return {
      kind: 'inheritance',
      branchCode: '001',
      operatorId: 'BENCH1',
      subject: { myNumber: first11 + myNumberCheckDigit(first11), nameKana: 'ヤマダ タロウ', birthDate: '1940-04-01', dateOfDeath: '2026-01-10' },
      applicant: { relationship: 'heir', name: '山田 花子' },
      evidence: [{ type: 'legal-heir-information', reference: 'BENCH-0001' }],
    };
  };
}

/** Every inquiry asks the hosted institution and each simulated one. */
function checkAsked(view: InquiryView, institutions: number): void {
  if (view.progress.total !== institutions) {
    throw new Error(`inquiry ${view.id} asked ${view.progress.total} institutions; expected ${institutions}`);
  }
}

/** ... and, undisturbed, ends completed with all of them answering. */
function checkCompleted(view: InquiryView, institutions: number): void {
  checkAsked(view, institutions);
  const { status, progress } = view;
  if (status !== 'completed' || progress.answered !== institutions) {
    throw new Error(`inquiry ${view.id} ended ${status} with ${JSON.stringify(progress)}; expected completed, ${institutions} answered`);
  }
}

interface Phase {
  cpu: CpuShare;
  workerPeakRssMb: number;
  apiPeakRssMb: number;
  messages: number;
  queries: number;
  refused: number;
}

/** A line of the results table: completion times, peer messages and peak RSS of one phase. */
function phaseRow(name: string, latency: LatencySummary, phase: Phase, inquiries: number): Array<string | number> {
  return [
    name,
    latency.count,
    fmt(latency.p50, 0),
    fmt(latency.p99, 0),
    fmt(latency.max, 0),
    phase.messages,
    fmt(phase.messages / inquiries, 1),
    fmt(phase.queries / phase.messages, 1),
    phase.refused,
    fmt(phase.workerPeakRssMb),
    fmt(phase.apiPeakRssMb),
  ];
}

/** Runs `body` with CPU, RSS and simulator messages measured around it. */
async function measured<T>(
  ctx: { database: string; api: BenchApi; workerPid: number; simulator: BenchSimulator },
  body: () => Promise<T>,
): Promise<{ result: T; phase: Phase }> {
  await ctx.simulator.resetStats();
  const workerRss = sampleRss(ctx.workerPid);
  const apiRss = sampleRss(ctx.api.process.pid);
  const cpu = measureCpu({
    database: ctx.database,
    apiPid: ctx.api.process.pid,
    processes: { worker: ctx.workerPid, simulator: ctx.simulator.process.pid, redis: pidsByName('redis-server') },
  });
  const result = await body();
  const share = cpu.stop();
  const stats = await ctx.simulator.stats();
  return {
    result,
    phase: {
      cpu: share,
      workerPeakRssMb: workerRss.stop() / 1024,
      apiPeakRssMb: apiRss.stop() / 1024,
      messages: stats.messages,
      queries: stats.queries,
      refused: stats.refused,
    },
  };
}

/** p50 of each stage of the single inquiries, from the database's timestamps (ms). */
async function singleStages(db: pg.Pool, runs: { id: string; ms: number }[]) {
  const { rows } = await db.query<{ id: string; admission: number; first_answer: number; answers: number; finish: number; total: number }>(
    `SELECT i.id,
            extract(epoch FROM i.started_at - i.created_at) * 1000 AS admission,
            extract(epoch FROM min(a.answered_at) - i.started_at) * 1000 AS first_answer,
            extract(epoch FROM max(a.answered_at) - min(a.answered_at)) * 1000 AS answers,
            extract(epoch FROM i.completed_at - max(a.answered_at)) * 1000 AS finish,
            extract(epoch FROM i.completed_at - i.created_at) * 1000 AS total
       FROM inquiries i JOIN (${ANSWERS_OF_INQUIRIES}) a ON a.inquiry_id = i.id
      WHERE i.id = ANY ($1::uuid[]) GROUP BY i.id`,
    [runs.map((r) => r.id)],
  );
  const measuredMs = new Map(runs.map((r) => [r.id, r.ms]));
  const p50 = (values: number[]) => summarizeLatencies(values.map(Number)).p50;
  return {
    admission: p50(rows.map((r) => r.admission)),
    firstAnswer: p50(rows.map((r) => r.first_answer)),
    answers: p50(rows.map((r) => r.answers)),
    finish: p50(rows.map((r) => r.finish)),
    seen: p50(rows.map((r) => measuredMs.get(r.id)! - r.total)),
  };
}

export async function run(): Promise<void> {
  const settings = {
    nodes: positive('BENCH_NODES', 1000),
    latencyMs: positive('BENCH_LATENCY_MS', 20),
    singleRuns: positive('BENCH_SINGLE_RUNS', 20),
    burst: positive('BENCH_BURST', 1000),
    burstConcurrency: positive('BENCH_BURST_CONCURRENCY', 50),
    burstTimeoutS: positive('BENCH_BURST_TIMEOUT_SECONDS', 300),
    singleTimeoutS: positive('BENCH_SINGLE_TIMEOUT_SECONDS', 150),
  };
  const stamp = timestamp();
  const startedAt = new Date().toISOString();

  const db = await createBenchDatabase(`kouza_bench_${stamp}`);
  cleanup.add('drop the bench database', () => db.drop());
  const admin = openPool(db.ownerUrl, 2);
  cleanup.add('close the admin pool', () => admin.end());
  const machine = await machineInfo(admin);

  // A queue prefix of its own: no other kouza-hub on this Redis takes (or feeds) the bench's jobs.
  // BENCH_QUEUE_PREFIX on a Redis of the bench's own, e.g. the default's on a cluster
  // (REDIS_CLUSTER_NODES), to see where a default deployment's families land.
  const queuePrefix = process.env.BENCH_QUEUE_PREFIX ?? `{kouza-bench-${stamp}}`;
  const api = await startBenchApi(db.url, { QUEUE_PREFIX: queuePrefix });
  const config = loadConfig(api.env);
  cleanup.add('remove the queue keys', () => dropQueueKeys(config));

  console.log(
    `kouza-hub bench: ${SUITE} — inheritance inquiries across ${settings.nodes} simulated peer nodes answering after ${settings.latencyMs} ms`,
  );
  console.log(describeMachine(machine) + ', and so do the worker and the simulator');

  const simulator = await startBenchSimulator(api, { nodes: settings.nodes, latencyMs: settings.latencyMs });
  const registerStarted = performance.now();
  const registered = await registerSimulatedPeers(api, simulator);
  const registerS = (performance.now() - registerStarted) / 1000;
  const key = await createInstitutionKey(api, INSTITUTION_CODE, ['inquiries:write', 'inquiries:read']);
  const worker = await startBenchWorker(api);
  const institutions = registered + 1; // the simulated ones and the requester, hosted here
  console.log(
    `run: ${registered} peer nodes registered in ${fmt(registerS)} s; ${settings.singleRuns} single inquiries (after one warm-up), ` +
      `then a burst of ${settings.burst} (${settings.burstConcurrency} POSTs at a time); database ${db.name}; ` +
      `API: ${api.processes} process(es) × ${api.poolSize} connections; worker: 1 process × ${worker.poolSize} connections; ` +
      `PEER_BATCH_SIZE ${config.PEER_BATCH_SIZE}, PEER_BATCH_WAIT_MS ${config.PEER_BATCH_WAIT_MS}, PEER_CONCURRENCY ${config.PEER_CONCURRENCY}; ` +
      'API and worker at LOG_LEVEL warn (the worker at info: it logs nothing per job)\n',
  );

  const base = api.process.baseUrl;
  const nextBody = inquiryBodies();
  const post = () => postJson<{ id: string }>(`${base}/v1/inquiries`, nextBody(), key);
  const ctx = { database: db.name, api, workerPid: worker.process.pid, simulator };

  /**
   * One inquiry, its status polled every POLL_MS until final: ms from the POST to the first
   * poll that sees it final; then its full view, once, to check every institution answered.
   * The status comes from the list (`GET /v1/inquiries?limit=1`: the run's newest, no
   * results), as a client waiting for one would ask; polling the full view instead read
   * its 1,001 results and wrote an access audit row fifty times a second, load of the
   * benchmark's own that took about a tenth of a core from the service it measures.
   */
  const inquireOnce = async (): Promise<{ id: string; ms: number }> => {
    const t0 = performance.now();
    const { id } = await post();
    const deadline = t0 + settings.singleTimeoutS * 1000;
    for (;;) {
      const { items } = await getJson<{ items: { id: string; status: string }[] }>(`${base}/v1/inquiries?limit=1`, key);
      const status = items.find((item) => item.id === id)?.status;
      if (status !== undefined && FINAL.has(status)) {
        const ms = performance.now() - t0;
        const view = await getJson<InquiryView>(`${base}/v1/inquiries/${id}`, key);
        checkCompleted(view, institutions);
        return { id, ms };
      }
      if (performance.now() > deadline) throw new Error(`inquiry ${id} not final after ${settings.singleTimeoutS} s: status ${status ?? 'not listed'}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };

  // --- 1. One inquiry at a time ---
  const warmupMs = (await inquireOnce()).ms;
  console.log(`warm-up inquiry: ${fmt(warmupMs, 0)} ms (not counted)`);
  const single = await measured(ctx, async () => {
    const runs: { id: string; ms: number }[] = [];
    for (let i = 0; i < settings.singleRuns; i++) runs.push(await inquireOnce());
    return runs;
  });
  const singleLatency = summarizeLatencies(single.result.map((r) => r.ms));
  console.log(`single: p50 ${fmt(singleLatency.p50, 0)} ms, p99 ${fmt(singleLatency.p99, 0)} ms, max ${fmt(singleLatency.max, 0)} ms`);
  const stages = await singleStages(admin, single.result);

  // --- 2. A burst ---
  const commandsBefore = await commandsPerMaster(config);
  const burst = await measured(ctx, async () => {
    const t0 = performance.now();
    const ids = await mapConcurrently(Array.from({ length: settings.burst }), settings.burstConcurrency, async () => (await post()).id);
    const postedS = (performance.now() - t0) / 1000;
    console.log(`burst: ${ids.length} accepted in ${fmt(postedS, 2)} s`);
    const deadline = t0 + settings.burstTimeoutS * 1000;
    let lastReport = performance.now();
    for (;;) {
      const { rows } = await admin.query<{ final: number }>(
        'SELECT count(*)::int AS final FROM inquiries WHERE id = ANY ($1::uuid[]) AND completed_at IS NOT NULL',
        [ids],
      );
      const now = performance.now();
      if (rows[0].final === ids.length) return { ids, postedS, totalS: (now - t0) / 1000 };
      if (now > deadline) throw new Error(`burst: ${rows[0].final}/${ids.length} final after ${settings.burstTimeoutS} s`);
      if (now - lastReport >= PROGRESS_EVERY_MS) {
        console.log(`burst: ${rows[0].final}/${ids.length} final after ${fmt((now - t0) / 1000, 0)} s`);
        lastReport = now;
      }
      await new Promise((resolve) => setTimeout(resolve, BURST_POLL_MS));
    }
  });
  console.log(`burst: all ${settings.burst} final ${fmt(burst.result.totalS, 2)} s after the first POST`);
  // Every inquiry of the burst asked every institution; how they ended is a result
  // (a node not reached in time makes its inquiry partial), checked below.
  const burstViews = await mapConcurrently(burst.result.ids, 8, async (id) => {
    const view = await getJson<InquiryView>(`${base}/v1/inquiries/${id}`, key);
    checkAsked(view, institutions);
    return view;
  });
  const burstOutcome = { completed: 0, partial: 0, rejected: 0, unreachableAnswers: 0 };
  for (const view of burstViews) {
    burstOutcome[view.status as 'completed' | 'partial' | 'rejected'] += 1;
    burstOutcome.unreachableAnswers += view.progress.failed;
  }
  const { rows: burstRows } = await admin.query<{ fanouts: number; latencies: number[] }>(
    `SELECT count(DISTINCT fanout_id)::int AS fanouts,
            array_agg(extract(epoch FROM completed_at - created_at) * 1000 ORDER BY 1) AS latencies
       FROM inquiries WHERE id = ANY ($1::uuid[])`,
    [burst.result.ids],
  );
  const burstLatency: LatencySummary = summarizeLatencies(burstRows[0].latencies.map(Number));
  // Each fan-out of the burst: its inquiries, when it began and when its last inquiry was
  // final, in seconds after the burst's first inquiry (database clock).
  const { rows: fanoutRows } = await admin.query<{ inquiries: number; started: number; hosted: number; peers: number; final: number }>(
    `WITH b AS (SELECT * FROM inquiries WHERE id = ANY ($1::uuid[])), t0 AS (SELECT min(created_at) AS t0 FROM b),
          a AS (SELECT a.inquiry_id, max(a.answered_at) FILTER (WHERE a.node_id = $2) AS hosted,
                       max(a.answered_at) FILTER (WHERE a.node_id <> $2) AS peers
                  FROM (${ANSWERS_OF_INQUIRIES}) a GROUP BY a.inquiry_id)
     SELECT count(*)::int AS inquiries,
            extract(epoch FROM min(b.fanout_started_at) - (SELECT t0 FROM t0))::float8 AS started,
            extract(epoch FROM max(a.hosted) - (SELECT t0 FROM t0))::float8 AS hosted,
            extract(epoch FROM max(a.peers) - (SELECT t0 FROM t0))::float8 AS peers,
            extract(epoch FROM max(b.completed_at) - (SELECT t0 FROM t0))::float8 AS final
       FROM b LEFT JOIN a ON a.inquiry_id = b.id GROUP BY b.fanout_id ORDER BY 2`,
    [burst.result.ids, HOSTED_NODE_ID],
  );

  // Where the burst's keys and commands went (the keys still held: finished flows' jobs
  // are kept for an hour, webhook and maintenance history by count).
  const shares: MasterShare[] = await distribution(config, commandsBefore);

  const apiHwmKb = await api.process.stop();
  const workerHwmKb = await worker.process.stop();
  const workerPeakRssMb = Math.max(single.phase.workerPeakRssMb, burst.phase.workerPeakRssMb, (workerHwmKb ?? 0) / 1024);
  const apiPeakRssMb = Math.max(single.phase.apiPeakRssMb, burst.phase.apiPeakRssMb, (apiHwmKb ?? 0) / 1024);

  // --- Results ---
  console.log(
    `\nCompletion time per inquiry (ms; single: POST to the first final poll, every ${POLL_MS} ms; burst: created_at to completed_at), ` +
      'peer messages the simulator received, peak RSS sampled every 100 ms\n',
  );
  printTable(
    ['phase', 'inquiries', 'p50 ms', 'p99 ms', 'max ms', 'messages', 'msgs/inquiry', 'queries/msg', 'refused', 'worker RSS MB', 'API RSS MB'],
    [
      phaseRow('single', singleLatency, single.phase, settings.singleRuns),
      phaseRow('burst', burstLatency, burst.phase, settings.burst),
    ],
  );
  const expectedBurstMessages = burstRows[0].fanouts * settings.nodes;
  console.log(
    `\nburst: ${settings.burst} inquiries accepted in ${fmt(burst.result.postedS, 2)} s (${fmt(settings.burst / burst.result.postedS)}/s), ` +
      `all final after ${fmt(burst.result.totalS, 2)} s; ${burstRows[0].fanouts} fan-outs (≤ ${config.PEER_BATCH_SIZE} inquiries each), ` +
      `so ${expectedBurstMessages} messages expected without retries, ${burst.phase.messages} received`,
  );
  console.log('\nburst fan-outs: inquiries; when it began, its hosted answer and its last peer answer were written, and its last inquiry was final (s after the first inquiry; database clock)\n');
  printTable(
    ['fan-out', 'inquiries', 'began s', 'hosted s', 'last peer s', 'final s', 'took s'],
    fanoutRows.map((f, i) => [String(i + 1), String(f.inquiries), fmt(f.started, 2), fmt(f.hosted, 2), fmt(f.peers, 2), fmt(f.final, 2), fmt(f.final - f.started, 2)]),
  );
  console.log(
    `\nCPU during each phase, % of one core (${machine.nproc} cores = ${machine.nproc * 100}%); ` +
      '"other" is everything else on the machine, kernel included: high values mean the run was disturbed\n',
  );
  printTable(
    ['phase', 'API', 'worker', 'simulator', 'Redis', 'Postgres', 'bench', 'other'],
    (
      [
        ['single', single.phase.cpu],
        ['burst', burst.phase.cpu],
      ] as const
    ).map(([name, c]) => [name, ...[c.apiPct, c.processesPct.worker, c.processesPct.simulator, c.processesPct.redis, c.postgresPct, c.benchPct, c.otherPct].map((v) => fmt(v, 0))]),
  );
  console.log(
    `\nwhere a single inquiry's time goes, p50 over the runs (ms; database clock): admission ${fmt(stages.admission, 0)} ` +
      `(accepted → claimed into a fan-out: the PEER_BATCH_WAIT_MS window and the admission job), first answer ${fmt(stages.firstAnswer, 0)} ` +
      `(claimed → first node answer written: flow creation), answers ${fmt(stages.answers, 0)} (first → last of the node answers), ` +
      `finish ${fmt(stages.finish, 0)} (last answer → final), seen ${fmt(stages.seen, 0)} (final → the poll that saw it, and HTTP)`,
  );
  console.log(`\npeak RSS over the whole run (sampled, and VmHWM at the end): worker ${fmt(workerPeakRssMb)} MB, API ${fmt(apiPeakRssMb)} MB`);

  const totalCommands = shares.reduce((n, s) => n + s.commands, 0);
  console.log(
    `\nRedis ${config.REDIS_CLUSTER_NODES ? `Cluster (${shares.length} masters)` : '(single)'}: this run's queue keys held by each master at the end ` +
      'of the burst, and the commands each ran during it (INFO commandstats)\n',
  );
  printTable(
    ['master', 'families (hash tags)', 'keys', 'keys by family', 'commands', 'share'],
    shares.map((s) => [
      s.master,
      s.families.join(', ') || '—',
      String(s.keys),
      Object.entries(s.keysByFamily).map(([f, n]) => `${f} ${n}`).join(', ') || '—',
      String(s.commands),
      `${fmt((100 * s.commands) / Math.max(1, totalCommands), 0)}%`,
    ]),
  );

  const checks = [
    { name: `one inquiry across ${settings.nodes} nodes p50 ≤ ${TARGET.singleP50Ms} ms`, value: `${fmt(singleLatency.p50, 0)} ms`, pass: singleLatency.p50 <= TARGET.singleP50Ms },
    { name: `${settings.burst} inquiries complete within ${TARGET.burstS} s`, value: `${fmt(burst.result.totalS, 2)} s`, pass: burst.result.totalS <= TARGET.burstS },
    { name: `worker RSS ≤ ${TARGET.workerRssMb} MB`, value: `${fmt(workerPeakRssMb)} MB`, pass: workerPeakRssMb <= TARGET.workerRssMb },
  ];
  for (const check of checks) console.log(`target: ${check.name}: ${check.value} — ${check.pass ? 'PASS' : 'FAIL'}`);
  const burstCompleted = burstOutcome.completed === settings.burst;
  console.log(
    `check: every burst inquiry completed (all ${institutions} institutions answered): ${burstOutcome.completed}/${settings.burst}` +
      (burstCompleted ? ' — PASS' : ` — FAIL (${burstOutcome.partial} partial, ${burstOutcome.rejected} rejected; ${burstOutcome.unreachableAnswers} institution answers unreachable)`),
  );
  if (!burstCompleted || !checks.every((c) => c.pass)) process.exitCode = 1;

  const file = writeResults(SUITE, stamp, {
    suite: SUITE,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    settings: {
      ...settings,
      database: db.name,
      apiProcesses: api.processes,
      apiPoolSize: api.poolSize,
      workerPoolSize: worker.poolSize,
      peerBatchSize: config.PEER_BATCH_SIZE,
      peerBatchWaitMs: config.PEER_BATCH_WAIT_MS,
      peerConcurrency: config.PEER_CONCURRENCY,
      registerS,
    },
    target: TARGET,
    single: { warmupMs, latency: singleLatency, stagesP50Ms: stages, ...single.phase },
    burst: { postedS: burst.result.postedS, totalS: burst.result.totalS, fanouts: burstRows[0].fanouts, fanoutTimeline: fanoutRows, outcome: burstOutcome, latency: burstLatency, ...burst.phase },
    redis: { cluster: Boolean(config.REDIS_CLUSTER_NODES), queuePrefix, masters: shares },
    workerPeakRssMb,
    apiPeakRssMb,
    summary: { checks, burstCompleted, pass: burstCompleted && checks.every((c) => c.pass) },
  });
  console.log(`\nresults written to ${file}`);
}
