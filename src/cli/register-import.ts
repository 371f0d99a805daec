import { createReadStream, statSync } from 'node:fs';
import pg from 'pg';
import { fail, oneOf, parseCliArgs, progressBar } from './cli-args.js';
import { registerImportSettings, type RegisterImportSettings } from '../config/cli-settings.js';
import { migrationsPending } from '../database/migrations-pending.js';
import { createImportRow, markImportFailed, runImport } from '../register/register-import-runner.js';
import type { ImportMode } from '../register/register-importer.js';
import type { RegisterEncoding, RegisterFormat } from '../register/register-parser.js';

/**
 * `npm run register:import -- --institution 0005 --mode full|delta [--format csv|ndjson]
 * [--encoding auto|utf-8|shift_jis] [--no-progress] <file>`
 *
 * Applies pending migrations first (as `npm start` does), then imports the file in one
 * transaction. Exit code: 0 completed (even with rejected rows), 2 refused file or bad
 * arguments, 1 failure (nothing written).
 */
const USAGE =
  'usage: register:import --institution <code> --mode full|delta [--format csv|ndjson] [--encoding auto|utf-8|shift_jis] [--no-progress] <file>';

const { values, positionals } = parseCliArgs(
  {
    allowPositionals: true,
    options: {
      institution: { type: 'string' },
      mode: { type: 'string' },
      format: { type: 'string' },
      encoding: { type: 'string' },
      'no-progress': { type: 'boolean' },
    },
  },
  USAGE,
);
if (positionals.length !== 1 || !values.institution) fail(USAGE, 2);
const file = positionals[0];
const mode = oneOf<ImportMode>(values.mode, ['full', 'delta'], 'mode', USAGE);
const format = oneOf<RegisterFormat>(
  values.format,
  ['csv', 'ndjson'],
  'format',
  USAGE,
  /\.(nd)?jsonl?$/i.test(file) ? 'ndjson' : 'csv',
);
const encoding = oneOf<RegisterEncoding>(values.encoding, ['auto', 'utf-8', 'shift_jis'], 'encoding', USAGE, 'auto');

let bytesTotal: number;
try {
  bytesTotal = statSync(file).size;
} catch (error) {
  fail(`cannot read ${file}: ${(error as Error).message}`, 2);
}

let settings: RegisterImportSettings;
try {
  settings = registerImportSettings(process.env);
} catch (error) {
  fail((error as Error).message, 1);
}
const { databaseUrl } = settings;
// Pending migrations first, as `npm start` applies them; the configuration and TypeORM
// are loaded only then.
if (await migrationsPending(databaseUrl)) {
  const { ConfigError, loadConfig } = await import('../config/app-config.js');
  const { migrate } = await import('../database/migrate.js');
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : String(error), 1);
  }
  await migrate(config);
}
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: 'kouza-hub-register-import' });
pool.on('error', () => undefined);
let exitCode = 0;
try {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM institutions WHERE code = $1', [values.institution]);
  if (!rows[0]) fail(`no institution with code ${values.institution}`, 2);
  const job = { institutionId: rows[0].id, mode, format, encoding, bytesTotal };
  const importId = await createImportRow(pool, { ...job, source: 'cli' }, 'running');

  const showBar = !values['no-progress'] && process.stderr.isTTY;
  const bar = progressBar(' {bar} {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}');
  if (showBar) bar.start(bytesTotal, 0, { rows: 0, rate: 0 });
  // Aborting (Ctrl-C) closes the connection: the transaction rolls back. The job row
  // (written outside that transaction) says so.
  process.once('SIGINT', () => {
    if (showBar) bar.stop();
    process.stderr.write('interrupted: nothing was written\n');
    const db = new pg.Client({ connectionString: databaseUrl });
    void db
      .connect()
      .then(() => markImportFailed(db, importId, 'interrupted; nothing was written'))
      .catch(() => undefined)
      .finally(() => process.exit(130));
  });

  // REGISTER_IMPORT_TIMINGS=1: each step's milliseconds on standard error (the benchmark reads them).
  const timings: Record<string, number> = {};
  let outcome;
  try {
    outcome = await runImport(pool, importId, job, createReadStream(file, { highWaterMark: 1 << 20 }), settings, (p) => {
      if (showBar) bar.update(p.bytesRead, { rows: p.rowsRead, rate: p.rowsPerSecond });
    }, timings);
  } catch (error) {
    if (showBar) bar.stop();
    await markImportFailed(pool, importId, 'the import failed; nothing was written').catch(() => undefined);
    throw error;
  }
  if (showBar) {
    bar.update(outcome.progress.bytesRead, { rows: outcome.progress.rowsRead, rate: outcome.progress.rowsPerSecond });
    bar.stop();
  }
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  if (process.env.REGISTER_IMPORT_TIMINGS === '1') {
    process.stderr.write(`${JSON.stringify({ timings, peakRssMb, rows: outcome.progress.rowsRead })}\n`);
  }
  if (outcome.status === 'refused') {
    process.stdout.write(`import ${importId}: REFUSED: ${outcome.reason}; nothing was written\n`);
    exitCode = 2;
  } else {
    const c = outcome.counts;
    process.stdout.write(
      `import ${importId}: completed, ${outcome.progress.rowsRead} rows (${outcome.progress.rowsPerSecond} rows/s), peak RSS ${peakRssMb} MB\n` +
        `  inserted ${c.inserted}, updated ${c.updated}, closed ${c.closed}, unchanged ${c.unchanged}, rejected ${c.rejected}\n`,
    );
    for (const e of outcome.errors.slice(0, 20)) {
      process.stdout.write(`  line ${e.line}${e.field ? ` ${e.field}` : ''}: ${e.reason}\n`);
    }
    if (outcome.errorCount > 20) process.stdout.write(`  ... ${outcome.errorCount - 20} more (see register_imports ${importId})\n`);
  }
} catch (error) {
  process.stderr.write(`register import failed: ${(error as Error).message}\n`);
  exitCode = 1;
} finally {
  await pool.end().catch(() => undefined);
}
process.exit(exitCode);
