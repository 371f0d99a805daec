import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBenchDatabase, openPool } from './support/bench-database.js';
import { cleanup } from './support/cleanup.js';
import { readStatusKb } from './support/proc.js';
import { writeRegisterCsv } from './support/register-file.js';
import { describeMachine, fmt, machineInfo, printTable, REPO_ROOT, timestamp, writeResults } from './support/report.js';

/**
 * `npm run bench -- register [--rows N]`: a generated register file (1,000,000 rows by
 * default) imported in full mode by the CLI, as a child process, into an institution
 * with an empty register; wall time, rows/s and the child's peak RSS (VmHWM). Then
 * `psql \copy` of the same file into a bare table of the same columns (all text, no
 * index) as the baseline: C parsing straight into an unindexed table.
 */

const SUITE = 'register';
const TARGET = { minRatio: 0.5, maxRssMb: 300 };
const CLI = join(REPO_ROOT, 'dist/src/cli/register-import.js');
/** The importer's steps (src/register/register-importer.ts), those the run took. */
const STEPS: [string, string][] = [
  ['parseAndCopy', 'parse + validate + COPY (overlapped; a first load COPYs into the new partition)'],
  ['analyze', 'ANALYZE (staging, new partition)'],
  ['duplicates', 'duplicates (SQL)'],
  ['load', 'INSERT … SELECT into the new partition'],
  ['merge', 'merge into account_register'],
  ['primaryKey', 'primary key build (finds duplicates)'],
  ['holderIndex', 'holder index build'],
  ['swap', 'swap the partition (DETACH, DROP, ATTACH)'],
  ['commit', 'commit'],
];

interface ChildRun {
  wallS: number;
  peakRssMb: number;
  stdout: string;
  report?: { timings: Record<string, number>; peakRssMb: number; rows: number };
}

function runImportCli(databaseUrl: string, file: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    // The same flags as `npm run register:import` (package.json).
    const child = spawn(process.execPath, ['--max-old-space-size=128', '--max-semi-space-size=32', CLI, '--institution', '0005', '--mode', 'full', '--no-progress', file], {
      env: { ...process.env, DATABASE_URL: databaseUrl, REGISTER_IMPORT_TIMINGS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let peakKb = 0;
    const timer = setInterval(() => {
      peakKb = Math.max(peakKb, readStatusKb(child.pid!, 'VmHWM') ?? 0);
    }, 100);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`import exited ${code}: ${stdout}${stderr}`));
      const line = stderr.split('\n').find((l) => l.startsWith('{"timings"'));
      const report = line ? (JSON.parse(line) as ChildRun['report']) : undefined;
      // VmHWM sampled until the last moment, and the child's own maxRSS: the larger.
      resolve({ wallS, peakRssMb: Math.max(peakKb / 1024, report?.peakRssMb ?? 0), stdout, report });
    });
  });
}

function psqlCopy(databaseUrl: string, file: string): number {
  const started = process.hrtime.bigint();
  const result = spawnSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy bare FROM '${file}' WITH (FORMAT csv, HEADER)`], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`psql \\copy failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function run(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(3), options: { rows: { type: 'string' } } });
  const rows = Number(values.rows ?? 1_000_000);
  if (!Number.isInteger(rows) || rows < 1) throw new Error('--rows must be a positive integer');
  const stamp = timestamp();

  const db = await createBenchDatabase(`kouza_bench_register_${stamp}`);
  cleanup.add('drop the bench database', () => db.drop());
  const pool = openPool(db.ownerUrl, 2);
  cleanup.add('close the pool', () => pool.end());
  const dir = mkdtempSync(join(tmpdir(), 'kouza-register-bench-'));
  cleanup.add('remove the generated file', () => rmSync(dir, { recursive: true, force: true }));
  const machine = await machineInfo(pool);

  const file = join(dir, 'register.csv');
  process.stdout.write(`generating ${rows} rows... `);
  const bytes = await writeRegisterCsv(file, rows);
  process.stdout.write(`${(bytes / 2 ** 20).toFixed(0)} MiB\n`);

  await pool.query(`INSERT INTO institutions (id, code, name) VALUES ($1, '0005', 'Bench register bank')`, [randomUUID()]);
  // Both runs start from a checkpoint: neither pays for the other's (or the database
  // creation's) dirty pages.
  await pool.query('CHECKPOINT');
  const imported = await runImportCli(db.url, file);
  process.stdout.write(imported.stdout);

  await pool.query(`CREATE TABLE bare (customer_number text, branch_code text, account_type text, account_number text,
                    name_kana text, birth_date text, postal_code text, address text, status text)`);
  await pool.query('CHECKPOINT');
  const copyS = psqlCopy(db.ownerUrl, file);

  const importRate = rows / imported.wallS;
  const copyRate = rows / copyS;
  const ratio = importRate / copyRate;
  const t = imported.report?.timings ?? {};
  console.log(`\n${describeMachine(machine)}`);
  console.log(`file: ${rows} rows, ${(bytes / 2 ** 20).toFixed(0)} MiB CSV (UTF-8, a third of addresses quoted)\n`);
  printTable(
    ['step', 'seconds'],
    [
      ...STEPS.filter(([key]) => t[key] !== undefined).map(([key, label]) => [label, fmt(t[key] / 1000, 2)]),
      ['whole import (process wall time)', fmt(imported.wallS, 2)],
      ['psql \\copy into a bare table', fmt(copyS, 2)],
    ],
  );
  console.log('');
  const ratioPass = ratio >= TARGET.minRatio;
  const rssPass = imported.peakRssMb <= TARGET.maxRssMb;
  printTable(
    ['measure', 'value', 'target', 'result'],
    [
      ['import rows/s', fmt(importRate, 0), '', ''],
      ['psql \\copy rows/s', fmt(copyRate, 0), '', ''],
      ['ratio import / \\copy', fmt(ratio, 3), `≥ ${TARGET.minRatio}`, ratioPass ? 'PASS' : 'FAIL'],
      ['import peak RSS (MB)', fmt(imported.peakRssMb, 0), `≤ ${TARGET.maxRssMb}`, rssPass ? 'PASS' : 'FAIL'],
    ],
  );
  const results = writeResults(SUITE, stamp, {
    machine,
    rows,
    bytes,
    importSeconds: imported.wallS,
    importRowsPerSecond: importRate,
    copySeconds: copyS,
    copyRowsPerSecond: copyRate,
    ratio,
    peakRssMb: imported.peakRssMb,
    timingsMs: t,
    pass: { ratio: ratioPass, rss: rssPass },
  });
  console.log(`\nresults: ${results}`);
  if (!ratioPass || !rssPass) process.exitCode = 1;
}
