import type pg from 'pg';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { KeyRotationView } from './dto/key-rotation.dto.js';
import type { RotationKind, RotationRecord } from './key-rotation-runner.js';

/**
 * A new rotation row, queued; undefined when one of this kind is already unfinished
 * (the partial unique index decides, also between concurrent requests).
 */
export async function createRotation(
  executor: SqlExecutor,
  rotation: { id: string; kind: RotationKind; target: string; source: 'api' | 'cli' },
): Promise<RotationRecord | undefined> {
  const rows: RotationRecord[] = await executor.query(
    `INSERT INTO key_rotations (id, kind, target, source) VALUES ($1, $2, $3, $4)
     ON CONFLICT (kind) WHERE status IN ('queued', 'running') DO NOTHING
     RETURNING *`,
    [rotation.id, rotation.kind, rotation.target, rotation.source],
  );
  return rows[0];
}

export async function findRotation(pool: pg.Pool | pg.Client, id: string): Promise<RotationRecord | undefined> {
  const { rows } = await pool.query<RotationRecord>('SELECT * FROM key_rotations WHERE id = $1', [id]);
  return rows[0];
}

export async function listRotations(pool: pg.Pool, limit: number): Promise<RotationRecord[]> {
  const { rows } = await pool.query<RotationRecord>('SELECT * FROM key_rotations ORDER BY created_at DESC LIMIT $1', [limit]);
  return rows;
}

/** Unfinished rotations that no batch has advanced for `idleMs` (their runner stopped). */
export async function idleUnfinishedRotations(pool: pg.Pool, idleMs: number): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM key_rotations
      WHERE status IN ('queued', 'running') AND updated_at < now() - make_interval(secs => $1::double precision / 1000)`,
    [idleMs],
  );
  return rows.map((r) => r.id);
}

export function toRotationView(r: RotationRecord): KeyRotationView {
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    status: r.status,
    source: r.source,
    progress: { total: Number(r.total), done: Number(r.done), phase: r.phase },
    moved: r.moved,
    ...(r.status === 'completed' ? { remaining: r.remaining } : {}),
    runs: r.runs,
    ...(r.error ? { error: r.error } : {}),
    createdAt: r.created_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}
