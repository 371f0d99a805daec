import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { myNumberCheckDigit } from '../../src/common/my-number/my-number.js';
import { createBenchDatabase, openPool } from './support/bench-database.js';
import { cleanup } from './support/cleanup.js';
import { createInstitutionKey, startBenchApi } from './support/kouza-api.js';
import { bestLevel, runLevels, type Level } from './support/levels.js';
import { runHttpLoad, runLoops } from './support/load.js';
import { describeMachine, fmt, machineInfo, printTable, timestamp, writeResults } from './support/report.js';
import { benchSettings } from './support/settings.js';

/**
 * POST /v1/linkages through the real API process, against the same two inserts per
 * transaction done straight through pg: how much of the database's capacity the
 * service delivers. Every request is a new depositor with a new account, so that
 * every request creates rows (a repeated body would measure the "already linked" path).
 */

const SUITE = 'linkages';
const TARGET = { minRatio: 0.3, maxP99Ms: 50 };
const INSTITUTION_CODE = '9001';

/** A new depositor (valid My Number) with one new account on every call. */
function newAttachmentBody(): () => string {
  let n = 0;
  const consentAt = new Date(Date.now() - 3_600_000).toISOString();
  return () => {
    if (++n > 9_999_999) throw new Error('account numbers exhausted');
    const first11 = String(10_000_000_000 + n);
    return JSON.stringify({
      branchCode: '001',
      operatorId: 'BENCH1',
      subject: { myNumber: first11 + myNumberCheckDigit(first11), nameKana: 'ヤマダ タロウ', birthDate: '1980-01-01' },
      accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: String(n).padStart(7, '0') }],
      verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' },
      consentAt,
    });
  };
}

/** Bare tables: the subject and linkage columns an attachment writes, without the service. */
const BASELINE_SCHEMA = `
  CREATE TABLE bench_subjects (
    id uuid PRIMARY KEY, institution_id uuid NOT NULL, blind_index bytea NOT NULL,
    my_number_ciphertext bytea NOT NULL, name_kana text NOT NULL, birth_date date NOT NULL);
  CREATE TABLE bench_linkages (
    id uuid PRIMARY KEY, subject_id uuid NOT NULL, branch_code text NOT NULL,
    account_type text NOT NULL, account_number text NOT NULL);
  CREATE UNIQUE INDEX bench_linkages_account ON bench_linkages (branch_code, account_type, account_number);`;

/** `accountSeq` runs across levels: an account is never inserted twice. */
function baselineAttachment(pool: pg.Pool, institutionId: string, accountSeq: () => number): () => Promise<void> {
  return async () => {
    const subjectId = randomUUID();
    const accountNumber = String(accountSeq()).padStart(7, '0');
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO bench_subjects (id, institution_id, blind_index, my_number_ciphertext, name_kana, birth_date)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        // 41 bytes: the service's ciphertext of a 12-digit number (version, IV, tag, data).
        [subjectId, institutionId, randomBytes(32), randomBytes(41), 'ﾔﾏﾀﾞ ﾀﾛｳ', '1980-01-01'],
      );
      await client.query(
        `INSERT INTO bench_linkages (id, subject_id, branch_code, account_type, account_number) VALUES ($1, $2, $3, $4, $5)`,
        [randomUUID(), subjectId, '001', 'ordinary', accountNumber],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
}

export async function run(): Promise<void> {
  const settings = benchSettings({ concurrencies: [1, 8, 16, 32, 48, 64, 128] });
  const stamp = timestamp();
  const startedAt = new Date().toISOString();

  const db = await createBenchDatabase(`kouza_bench_${stamp}`);
  cleanup.add('drop the bench database', () => db.drop());
  const admin = openPool(db.ownerUrl, 2);
  cleanup.add('close the admin pool', () => admin.end());

  const machine = await machineInfo(admin);
  console.log(`kouza-hub bench: ${SUITE} — POST /v1/linkages, one new depositor and one new account per request`);
  console.log(describeMachine(machine));
  const api = await startBenchApi(db.url);
  console.log(
    `run: concurrency ${settings.concurrencies.join(', ')}; ${settings.durationS} s each after ${settings.warmupS} s warm-up; ` +
      `database ${db.name}; API: ${api.processes} process(es) × ${api.poolSize} connections (API_PROCESSES, DATABASE_POOL_SIZE); baseline: one connection per concurrent loop (at most 64)`,
  );
  console.log('API started with LOG_LEVEL=warn: at info, one log line per request would dominate the measurement.\n');

  // --- The service ---
  const key = await createInstitutionKey(api, INSTITUTION_CODE, ['linkages:write']);
  const body = newAttachmentBody();
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const levelOptions = { durationS: settings.durationS, warmupS: settings.warmupS, database: db.name };
  const serviceDriver = (connections: number) => ({
    run: (durationS: number) =>
      runHttpLoad({ url: api.process.baseUrl, method: 'POST', path: '/v1/linkages', headers, body, connections, durationS }),
  });

  // --- The baseline: the same two inserts per transaction, straight through pg ---
  await admin.query(BASELINE_SCHEMA);
  const institutionId = randomUUID();
  let account = 0;
  const baselineDriver = (concurrency: number) => {
    // The raw baseline at its own best: each concurrent loop holds its own connection,
    // up to 64 (Postgres's default max_connections is 100).
    const pool = openPool(db.url, Math.min(concurrency, 64));
    const operation = baselineAttachment(pool, institutionId, () => ++account);
    return { run: (durationS: number) => runLoops({ concurrency, durationS, operation }), close: () => pool.end() };
  };

  // Service and baseline take turns at each concurrency, so that both see the machine
  // in the same state (its speed drifts over minutes on shared hardware).
  const service: Level[] = [];
  const baseline: Level[] = [];
  let serviceOk = 0;
  for (const concurrency of settings.concurrencies) {
    const s = await runLevels({ ...levelOptions, concurrencies: [concurrency], label: 'service', servicePid: api.process.pid, driver: serviceDriver });
    service.push(...s.levels);
    serviceOk += s.totalOk;
    const b = await runLevels({ ...levelOptions, concurrencies: [concurrency], label: 'baseline', driver: baselineDriver });
    baseline.push(...b.levels);
  }
  const apiHwmKb = await api.process.stop();

  // Each 2xx must have created its own subject, attachment and linkage; requests cut
  // off at the end of a level may have committed too, hence "at least".
  const counts = (
    await admin.query<{ subjects: number; attachments: number; linkages: number }>(
      `SELECT (SELECT count(*) FROM subjects)::int AS subjects, (SELECT count(*) FROM attachments)::int AS attachments,
              (SELECT count(*) FROM linkages)::int AS linkages`,
    )
  ).rows[0];
  if (!(counts.subjects === counts.attachments && counts.attachments === counts.linkages && counts.linkages >= serviceOk)) {
    throw new Error(`rows do not match one new subject and linkage per 2xx (${serviceOk}): ${JSON.stringify(counts)}`);
  }

  // --- Results ---
  console.log(`\nAttachments per second and latency (ms); peak RSS of the API process sampled every 100 ms\n`);
  printTable(
    ['concurrency', 'service/s', 'svc p50', 'svc p99', 'API RSS MB', 'baseline/s', 'base p50', 'base p99', 'svc/base'],
    service.map((s, i) => {
      const b = baseline[i];
      return [s.concurrency, fmt(s.rate), fmt(s.p50Ms, 2), fmt(s.p99Ms, 2), fmt(s.peakRssMb), fmt(b.rate), fmt(b.p50Ms, 2), fmt(b.p99Ms, 2), fmt(s.rate / b.rate, 2)];
    }),
  );
  console.log(
    `\nCPU during each level, % of one core (${machine.nproc} cores = ${machine.nproc * 100}%); ` +
      '"other" is everything else on the machine, kernel included: high values mean the run was disturbed\n',
  );
  printTable(
    ['concurrency', 'svc: API', 'svc: Postgres', 'svc: bench', 'svc: other', 'base: Postgres', 'base: bench', 'base: other'],
    service.map((s, i) => {
      const b = baseline[i];
      return [s.concurrency, ...[s.cpu.apiPct, s.cpu.postgresPct, s.cpu.benchPct, s.cpu.otherPct, b.cpu.postgresPct, b.cpu.benchPct, b.cpu.otherPct].map((v) => fmt(v, 0))];
    }),
  );
  const apiPeakRssMb = apiHwmKb !== undefined ? apiHwmKb / 1024 : undefined;
  console.log(`\nAPI peak RSS over the whole run (VmHWM): ${fmt(apiPeakRssMb)} MB`);

  const bestService = bestLevel(service, TARGET.maxP99Ms);
  const bestBaseline = bestLevel(baseline)!;
  const ratio = bestService ? bestService.rate / bestBaseline.rate : 0;
  const pass = bestService !== undefined && ratio >= TARGET.minRatio;
  console.log(
    bestService
      ? `best service level (highest rate with p99 ≤ ${TARGET.maxP99Ms} ms): concurrency ${bestService.concurrency}, ` +
          `${fmt(bestService.rate)}/s, p99 ${fmt(bestService.p99Ms, 2)} ms`
      : `best service level: none has p99 ≤ ${TARGET.maxP99Ms} ms`,
  );
  console.log(`best baseline rate: concurrency ${bestBaseline.concurrency}, ${fmt(bestBaseline.rate)}/s`);
  console.log(
    `ratio service/baseline: ${fmt(ratio, 3)} — target ≥ ${TARGET.minRatio} with p99 ≤ ${TARGET.maxP99Ms} ms: ${pass ? 'PASS' : 'FAIL'}` +
      (pass ? '' : ` (needs ${fmt(TARGET.minRatio * bestBaseline.rate)}/s)`),
  );

  const file = writeResults(SUITE, stamp, {
    suite: SUITE,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    settings: { ...settings, apiPoolSize: api.poolSize, logLevel: 'warn', apiNodeArgs: api.nodeArgs, database: db.name },
    target: TARGET,
    service,
    baseline,
    apiPeakRssMb,
    rows: counts,
    summary: {
      bestService: bestService ?? null,
      bestBaseline,
      ratio,
      pass,
    },
  });
  console.log(`\nresults written to ${file}`);
}
