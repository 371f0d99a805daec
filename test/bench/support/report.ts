import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/** The repository root, from dist/test/bench/support/ where this runs. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** UTC, compact and safe in database and file names: 20260126_101700. */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  totalMemoryMb: number;
  node: string;
  postgres: string;
}

export async function machineInfo(db: pg.Pool): Promise<MachineInfo> {
  const { rows } = await db.query<{ server_version: string }>('SHOW server_version');
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemoryMb: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    postgres: rows[0].server_version,
  };
}

/** The conditions line of a report header. */
export function describeMachine(m: MachineInfo): string {
  return (
    `machine: ${m.nproc} CPUs (${m.cpuModel}), ${(m.totalMemoryMb / 1024).toFixed(1)} GiB RAM, node ${m.node}, ` +
    `Postgres ${m.postgres}; load generator, API, Postgres and Redis share these CPUs`
  );
}

export function printTable(headers: string[], rows: Array<Array<string | number>>): void {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells.slice(1)) console.log(line(row));
}

/** Fixed decimals, or an em dash for a value not measured. */
export function fmt(value: number | undefined, decimals = 1): string {
  return value === undefined || Number.isNaN(value) ? '—' : value.toFixed(decimals);
}

/** Writes bench-results/<suite>-<stamp>.json under the repository root; returns its path. */
export function writeResults(suite: string, stamp: string, data: unknown): string {
  const dir = join(REPO_ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${suite}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
