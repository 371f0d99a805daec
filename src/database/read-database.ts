import { Logger, OnModuleDestroy } from '@nestjs/common';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { isDatabaseUnavailable, pgErrorCode } from './pg-errors.js';
import type { SqlExecutor } from './sql-executor.js';

/** The reads that may be stale, and where they went. */
export const READ_DATABASE = Symbol('READ_DATABASE');

/** After the replica failed to answer, how long reads go straight to the primary before trying it again. */
export const REPLICA_RETRY_AFTER_MS = 5_000;

/** 40001 on a hot standby: a query cancelled by a conflict with the WAL it replays. Run it on the primary. */
const RECOVERY_CONFLICT = '40001';

export type ReadSource = 'replica' | 'primary';

/**
 * Where the stale-tolerant reads run: the read replica (DATABASE_READ_URL) when there is
 * one, else the primary. Only views that a caller polls and that decide nothing use it
 * (an inquiry's or a numbering request's status, their lists): a linkage check, an
 * idempotency look-up, anything read before a write stays on the primary (the
 * DataSource / PG_POOL), because a replica may be behind.
 *
 * A replica that cannot be reached (or cancels a query for a recovery conflict) costs
 * no request: the read runs on the primary, and the replica is left alone for
 * REPLICA_RETRY_AFTER_MS. A read whose answer says "not there yet" (a row created a
 * moment ago, not yet replayed) can ask to be repeated on the primary.
 */
export class ReadDatabase implements OnModuleDestroy {
  private readonly logger = new Logger('ReadDatabase');
  private readonly replica?: SqlExecutor;
  private replicaDownUntil = 0;
  /** Reads answered, by where (for /metrics and tests). */
  readonly served: Record<ReadSource, number> = { replica: 0, primary: 0 };

  constructor(
    private readonly primary: DataSource,
    private readonly pool?: pg.Pool,
  ) {
    if (pool) {
      // An idle replica connection that breaks is dropped by the pool; it must not crash the process.
      pool.on('error', () => undefined);
      this.replica = { query: async (sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as any };
    }
  }

  /** Whether a read replica is configured. */
  get hasReplica(): boolean {
    return this.replica !== undefined;
  }

  /** Whether reads go to the replica now (configured, and not found unreachable a moment ago). */
  get replicaInUse(): boolean {
    return this.replica !== undefined && Date.now() >= this.replicaDownUntil;
  }

  /**
   * Runs `read` on the replica, or on the primary when there is none, when it is
   * unreachable, or when `again(result)` says the replica's answer may just be behind.
   */
  async read<T>(read: (db: SqlExecutor) => Promise<T>, again?: (result: T) => boolean): Promise<T> {
    if (this.replica && this.replicaInUse) {
      let result: T | undefined;
      let answered = false;
      try {
        result = await read(this.replica);
        answered = true;
      } catch (error) {
        if (!isDatabaseUnavailable(error) && pgErrorCode(error) !== RECOVERY_CONFLICT) throw error;
        if (isDatabaseUnavailable(error)) {
          this.replicaDownUntil = Date.now() + REPLICA_RETRY_AFTER_MS;
          this.logger.warn(`read replica unreachable (${pgErrorCode(error) ?? (error as Error).message}); reading from the primary`);
        }
      }
      if (answered && !(again && again(result as T))) {
        this.served.replica++;
        return result as T;
      }
    }
    this.served.primary++;
    return read(this.primary);
  }

  /** Whether the replica answers (undefined when there is none). */
  async ping(timeoutMs: number): Promise<boolean | undefined> {
    if (!this.replica) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const probe = this.replica.query('SELECT 1').then(
      () => true,
      () => false,
    );
    const up = await Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
    if (up && Date.now() < this.replicaDownUntil) this.replicaDownUntil = 0;
    return up;
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
  }
}

/** The replica's pool: the primary's settings, its own application_name (`<name>:read`) so that it can be told apart in pg_stat_activity. */
export function replicaPool(url: string, options: { max: number; connectTimeoutMs: number; applicationName: string }): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max: options.max,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: `${options.applicationName}:read`,
    statement_timeout: 30_000,
    keepAlive: true,
  });
}
