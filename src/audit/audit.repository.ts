import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { AuditActor, AuditEvent } from './audit-event.js';
import type { LinkVersion } from './audit-hash.js';

/** An audit row as hashed: every column, timestamps and JSON in Postgres's own text form. */
export interface CanonicalAuditRow {
  id: string;
  occurred_at: string;
  institution_id: string | null;
  actor_type: string;
  api_key_id: string | null;
  branch_code: string | null;
  operator_id: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  subject_id: string | null;
  request_id: string | null;
  details: string;
}

export interface ChainLink {
  seq: string;
  event_id: string;
  prev_hash: Buffer;
  hash: Buffer;
  /** 1: plain SHA-256 (sealed before the chain was keyed); 2: HMAC-SHA-256 under AUDIT_CHAIN_KEY. */
  link_version: LinkVersion;
}

const CANONICAL_COLUMNS = `
  e.id::text AS id,
  to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
  e.institution_id::text AS institution_id, e.actor_type, e.api_key_id::text AS api_key_id,
  e.branch_code, e.operator_id, e.action, e.resource_type, e.resource_id::text AS resource_id,
  e.subject_id::text AS subject_id, e.request_id, e.details::text AS details`;

@Injectable()
export class AuditRepository {
  constructor(private readonly db: DataSource) {}

  /** Appends events in the caller's transaction (or on their own when given the DataSource). */
  async append(executor: SqlExecutor, actor: AuditActor, events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await executor.query(
      `INSERT INTO audit_events
         (institution_id, actor_type, api_key_id, branch_code, operator_id, request_id,
          action, resource_type, resource_id, subject_id, details)
       SELECT $1, $2, $3, $4, $5, $6, a.action, a.resource_type, a.resource_id, a.subject_id, a.details
         FROM unnest($7::text[], $8::text[], $9::uuid[], $10::uuid[], $11::jsonb[])
           AS a (action, resource_type, resource_id, subject_id, details)`,
      [
        actor.institutionId ?? null,
        actor.actorType,
        actor.apiKeyId ?? null,
        actor.branchCode ?? null,
        actor.operatorId ?? null,
        actor.requestId ?? null,
        events.map((e) => e.action),
        events.map((e) => e.resourceType ?? null),
        events.map((e) => e.resourceId ?? null),
        events.map((e) => e.subjectId ?? null),
        events.map((e) => JSON.stringify(e.details ?? {})),
      ],
    );
  }

  async chainHead(executor: SqlExecutor): Promise<ChainLink | undefined> {
    const rows: ChainLink[] = await executor.query(
      `SELECT c.seq::text AS seq, c.event_id::text AS event_id, c.prev_hash, c.hash, c.link_version
         FROM audit_chain c ORDER BY c.seq DESC LIMIT 1`,
    );
    return rows[0];
  }

  /**
   * Events not yet in the chain, oldest id first. Ids are handed out before commit,
   * so a late commit can land below ids already sealed: the look-back re-examines a
   * window below the highest sealed id, and verification reports anything older.
   */
  async findUnsealed(executor: SqlExecutor, lookBack: number, limit: number): Promise<CanonicalAuditRow[]> {
    return executor.query(
      `SELECT ${CANONICAL_COLUMNS}
         FROM audit_events e
         LEFT JOIN audit_chain c ON c.event_id = e.id
        WHERE e.id > (SELECT coalesce(max(event_id), 0) - $1 FROM audit_chain)
          AND c.event_id IS NULL
        ORDER BY e.id
        LIMIT $2`,
      [lookBack, limit],
    );
  }

  async appendLinks(executor: SqlExecutor, links: ChainLink[]): Promise<void> {
    await executor.query(
      `INSERT INTO audit_chain (seq, event_id, prev_hash, hash, link_version)
       SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[], $5::smallint[])`,
      [
        links.map((l) => l.seq),
        links.map((l) => l.event_id),
        links.map((l) => l.prev_hash),
        links.map((l) => l.hash),
        links.map((l) => l.link_version),
      ],
    );
  }

  /** The link at one position of the chain (a checkpoint's), if the chain reaches it. */
  async linkAt(seq: string): Promise<{ hash: Buffer } | undefined> {
    const rows: { hash: Buffer }[] = await this.db.query(`SELECT hash FROM audit_chain WHERE seq = $1`, [seq]);
    return rows[0];
  }

  /** A page of the chain in order, with the event each link seals (null if it is gone). */
  async chainPage(afterSeq: string, limit: number): Promise<Array<ChainLink & { event: CanonicalAuditRow | null }>> {
    const rows: Array<ChainLink & CanonicalAuditRow & { event_present: boolean }> = await this.db.query(
      `SELECT c.seq::text AS seq, c.event_id::text AS event_id, c.prev_hash, c.hash, c.link_version,
              e.id IS NOT NULL AS event_present, ${CANONICAL_COLUMNS}
         FROM audit_chain c
         LEFT JOIN audit_events e ON e.id = c.event_id
        WHERE c.seq > $1
        ORDER BY c.seq
        LIMIT $2`,
      [afterSeq, limit],
    );
    return rows.map((r) => ({
      seq: r.seq,
      event_id: r.event_id,
      prev_hash: r.prev_hash,
      hash: r.hash,
      link_version: r.link_version,
      event: r.event_present
        ? {
            id: r.id,
            occurred_at: r.occurred_at,
            institution_id: r.institution_id,
            actor_type: r.actor_type,
            api_key_id: r.api_key_id,
            branch_code: r.branch_code,
            operator_id: r.operator_id,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            subject_id: r.subject_id,
            request_id: r.request_id,
            details: r.details,
          }
        : null,
    }));
  }

  /** Events older than the grace period that no link seals (a late commit, or a gap). */
  async findUnsealedOlderThan(seconds: number, limit: number): Promise<{ count: number; firstIds: string[] }> {
    const rows: Array<{ id: string; total: number }> = await this.db.query(
      `SELECT e.id::text AS id, count(*) OVER ()::int AS total FROM audit_events e
        WHERE e.occurred_at < now() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)
        ORDER BY e.id
        LIMIT $2`,
      [seconds, limit],
    );
    return { count: rows[0]?.total ?? 0, firstIds: rows.map((r) => r.id) };
  }

  async countEvents(): Promise<number> {
    const [row] = await this.db.query(`SELECT count(*)::int AS n FROM audit_events`);
    return row.n;
  }
}
