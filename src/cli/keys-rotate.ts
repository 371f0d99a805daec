import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository.js';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { loadKeyMaterial } from '../crypto/key-material.js';
import { dataSourceOptions } from '../database/data-source-options.js';
import { migrate } from '../database/migrate.js';
import { isUuid } from '../common/ids.js';
import { ROTATION_KINDS, type RotationKind, type RotationRecord } from '../keys/key-rotation-runner.js';
import { createRotation, findRotation } from '../keys/key-rotations.repository.js';
import { standaloneRotationRunner } from '../keys/standalone-runner.js';
import { fail, oneOf, parseCliArgs, progressBar } from './cli-args.js';

/**
 * `npm run keys:rotate -- --kind blind-index|master-key [--no-progress]`: starts a
 * rotation to this configuration's active key and runs it here, with a progress bar
 * (no worker needed). Interrupted, the rotation stays where its last batch ended and a
 * worker resumes it (or run the command with `--resume <id>`).
 * `npm run keys:rotate -- --follow <id>`: follows a rotation that a worker runs
 * (e.g. one started with POST /v1/key-rotations).
 * Exit code: 0 completed, 1 failed, 2 bad arguments or a rotation of this kind already under way.
 */
const USAGE = 'usage: keys:rotate --kind blind-index|master-key [--no-progress] | --resume <id> | --follow <id>';

const { values } = parseCliArgs(
  {
    options: {
      kind: { type: 'string' },
      resume: { type: 'string' },
      follow: { type: 'string' },
      'no-progress': { type: 'boolean' },
    },
  },
  USAGE,
);
const modes = [values.kind, values.resume, values.follow].filter((v) => v !== undefined);
if (modes.length !== 1) fail(USAGE, 2);
if (values.kind !== undefined) oneOf<RotationKind>(values.kind, ROTATION_KINDS, 'kind', USAGE);
for (const id of [values.resume, values.follow]) if (id !== undefined && !isUuid(id)) fail(`not a rotation id: ${id}\n${USAGE}`, 2);

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  fail(error instanceof ConfigError ? error.message : String(error), 1);
}
const keys = loadKeyMaterial(config, (message) => process.stderr.write(`warning: ${message}\n`));
await migrate(config);
const dataSource = new DataSource(dataSourceOptions(config, 'kouza-hub-keys-rotate'));
await dataSource.initialize();
const pool = (dataSource.driver as unknown as { master: pg.Pool }).master;

const showBar = !values['no-progress'] && process.stderr.isTTY;
const bar = progressBar(' {phase} {bar} {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}');
let barStarted = false;
const startedAt = Date.now();
function showProgress(row: RotationRecord): void {
  const done = Number(row.done);
  const rate = Math.round(done / Math.max(0.001, (Date.now() - startedAt) / 1000));
  if (!showBar) return;
  if (!barStarted) {
    bar.start(Math.max(Number(row.total), done), done, { phase: row.phase ?? row.status, rate });
    barStarted = true;
  }
  bar.setTotal(Math.max(Number(row.total), done));
  bar.update(done, { phase: row.phase ?? row.status, rate });
}

/** Polls the rotation's row until it is finished (or `until` settles first). */
async function follow(id: string, until?: Promise<unknown>): Promise<RotationRecord> {
  let settled = false;
  void until?.finally(() => (settled = true)).catch(() => undefined);
  for (;;) {
    const row = await findRotation(pool, id);
    if (!row) fail(`no key rotation ${id}`, 2);
    showProgress(row);
    if (row.status === 'completed' || row.status === 'failed' || settled) return row;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

let exitCode = 0;
try {
  let id: string;
  let runHere = true;
  if (values.kind !== undefined) {
    const kind = values.kind as RotationKind;
    const target = kind === 'blind-index' ? String(keys.activeBlindIndexVersion) : keys.activeMasterKeyId;
    id = randomUUID();
    const audit = new AuditRepository(dataSource);
    const created = await dataSource.transaction(async (tx) => {
      const row = await createRotation(tx, { id, kind, target, source: 'cli' });
      if (row) {
        await audit.append(tx, { actorType: 'operator', operatorId: 'cli' }, [
          { action: 'key-rotation.start', resourceType: 'key-rotation', resourceId: id, details: { kind, target } },
        ]);
      }
      return row;
    });
    if (!created) {
      const { rows } = await pool.query<{ id: string }>(`SELECT id FROM key_rotations WHERE kind = $1 AND status IN ('queued', 'running')`, [kind]);
      fail(`a ${kind} rotation is already under way: ${rows[0]?.id}; follow it with --follow ${rows[0]?.id}`, 2);
    }
    process.stderr.write(`key rotation ${id}: ${kind} to ${target}\n`);
  } else {
    id = (values.resume ?? values.follow)!;
    runHere = values.resume !== undefined;
  }

  let row: RotationRecord;
  if (runHere) {
    const runner = standaloneRotationRunner(dataSource, config, keys);
    const running = runner.run(id);
    // Ctrl-C: the last committed batch stays; the rotation resumes from it.
    process.once('SIGINT', () => {
      if (barStarted) bar.stop();
      process.stderr.write(`\ninterrupted: rotation ${id} resumes from its last batch (a worker takes it up, or --resume ${id})\n`);
      process.exit(130);
    });
    await follow(id, running);
    const outcome = await running;
    if (outcome === 'busy') process.stderr.write(`rotation ${id} is being run by another process; following it\n`);
    row = await follow(id);
  } else {
    row = await follow(id);
  }
  if (barStarted) bar.stop();
  const summary = `key rotation ${row.id} (${row.kind} to ${row.target}): ${row.status}, ${row.done}/${row.total} rows moved, runs ${row.runs}`;
  process.stdout.write(`${summary}\n  moved ${JSON.stringify(row.moved)}\n`);
  if (row.status === 'completed') process.stdout.write(`  still under an old key ${JSON.stringify(row.remaining)}\n`);
  else exitCode = 1;
  if (row.error) process.stdout.write(`  error: ${row.error}\n`);
} catch (error) {
  if (barStarted) bar.stop();
  process.stderr.write(`key rotation failed: ${(error as Error).message}\n`);
  exitCode = 1;
} finally {
  await dataSource.destroy().catch(() => undefined);
}
process.exit(exitCode);
