import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { SealedWebhookSecret } from './webhook-secrets.js';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed'];

export interface WebhookAttemptRecord {
  attempt: number;
  url: string;
  startedAt: string;
  durationMs: number | null;
  statusCode: number | null;
  error: string | null;
}

export interface WebhookDeliveryRecord {
  id: string;
  eventType: string;
  payload: Record<string, unknown>;
  url: string;
  status: DeliveryStatus;
  attemptCount: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  attempts: WebhookAttemptRecord[];
}

/** A delivery claimed for one attempt, with what the attempt needs. */
export interface ClaimedDelivery {
  id: string;
  institutionId: string;
  attempt: number;
  payload: Record<string, unknown>;
  url: string;
  secret: SealedWebhookSecret;
  /** The secret before a rotation, while it still signs (WEBHOOK_SECRET_OVERLAP_SECONDS). */
  previousSecret?: SealedWebhookSecret;
}

/** How an attempt ended, as recorded. */
export interface AttemptResult {
  durationMs: number;
  statusCode: number | null;
  error: string | null;
}

export type AttemptOutcome = { status: 'delivered' | 'failed' } | { status: 'pending'; retryInMs: number };

/**
 * An institution can receive webhooks when it has both a URL and a secret to sign with,
 * and its receiver has not disabled them (410 Gone).
 */
const SUBSCRIBED = `i.webhook_url IS NOT NULL AND i.webhook_secret_ciphertext IS NOT NULL AND i.webhook_disabled_at IS NULL`;

const utc = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const DELIVERY_COLUMNS = `d.id, d.event_type AS "eventType", d.payload, d.url, d.status, d.attempts AS "attemptCount",
  d.next_attempt_at AS "nextAttemptAt", d.last_attempt_at AS "lastAttemptAt", d.last_status_code AS "lastStatusCode",
  d.last_error AS "lastError", d.created_at AS "createdAt", d.delivered_at AS "deliveredAt",
  COALESCE((SELECT json_agg(json_build_object(
      'attempt', a.attempt, 'url', a.url, 'startedAt', ${utc('a.started_at')}, 'durationMs', a.duration_ms,
      'statusCode', a.status_code, 'error', a.error) ORDER BY a.attempt)
    FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id), '[]') AS attempts`;

/** Webhook deliveries and their attempts (all SQL of the webhooks module). */
@Injectable()
export class WebhookDeliveriesRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * The outbox rows, in the caller's transaction, in one statement: each written only
   * when its institution can receive webhooks. Returns the ids written.
   */
  async insertIfSubscribed(
    executor: SqlExecutor,
    rows: { id: string; institutionId: string; eventType: string; payload: Record<string, unknown> }[],
  ): Promise<string[]> {
    if (rows.length === 0) return [];
    const written: Array<{ id: string }> = await executor.query(
      `INSERT INTO webhook_deliveries (id, institution_id, event_type, payload, url, next_attempt_at)
       SELECT r.id, i.id, r.event_type, r.payload, i.webhook_url, now()
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[]) AS r(id, institution_id, event_type, payload)
         JOIN institutions i ON i.id = r.institution_id
        WHERE ${SUBSCRIBED}
       RETURNING id`,
      [rows.map((r) => r.id), rows.map((r) => r.institutionId), rows.map((r) => r.eventType), rows.map((r) => JSON.stringify(r.payload))],
    );
    return written.map((r) => r.id);
  }

  /**
   * Starts an attempt on a pending delivery: counts it, points it at the
   * institution's current URL and writes the attempt's row, in one statement (so two
   * runs of one job never share an attempt number). Undefined when the delivery is
   * no longer pending, has used `maxAttempts`, or its institution has no webhook any more.
   */
  async claim(id: string, maxAttempts: number): Promise<ClaimedDelivery | undefined> {
    const rows: Array<
      Omit<ClaimedDelivery, 'secret' | 'previousSecret'> & {
        ciphertext: Buffer;
        masterKeyId: string;
        previousCiphertext: Buffer | null;
        previousMasterKeyId: string | null;
      }
    > = await this.db.query(
      `WITH claimed AS (
         UPDATE webhook_deliveries d
            SET attempts = d.attempts + 1, last_attempt_at = now(), url = i.webhook_url
           FROM institutions i
          WHERE d.id = $1 AND d.status = 'pending' AND d.attempts < $2 AND i.id = d.institution_id AND ${SUBSCRIBED}
         RETURNING d.id, d.institution_id, d.attempts, d.payload, d.url,
                   i.webhook_secret_ciphertext, i.webhook_secret_master_key_id,
                   CASE WHEN i.webhook_previous_secret_until > now() THEN i.webhook_previous_secret_ciphertext END AS previous_ciphertext,
                   CASE WHEN i.webhook_previous_secret_until > now() THEN i.webhook_previous_secret_master_key_id END AS previous_master_key_id
       ), attempt AS (
         INSERT INTO webhook_delivery_attempts (delivery_id, attempt, url, started_at)
         SELECT id, attempts, url, now() FROM claimed
       )
       SELECT id, institution_id AS "institutionId", attempts AS attempt, payload, url,
              webhook_secret_ciphertext AS ciphertext, webhook_secret_master_key_id AS "masterKeyId",
              previous_ciphertext AS "previousCiphertext", previous_master_key_id AS "previousMasterKeyId"
         FROM claimed`,
      [id, maxAttempts],
    );
    const row = rows[0];
    if (!row) return undefined;
    const { ciphertext, masterKeyId, previousCiphertext, previousMasterKeyId, ...delivery } = row;
    return {
      ...delivery,
      secret: { ciphertext, masterKeyId },
      ...(previousCiphertext && previousMasterKeyId ? { previousSecret: { ciphertext: previousCiphertext, masterKeyId: previousMasterKeyId } } : {}),
    };
  }

  /**
   * Ends a pending delivery that cannot be attempted: its institution no longer has a
   * webhook, or it has used `maxAttempts` (attempts whose run died before recording an
   * outcome count too). Returns the reason when it did, undefined when the delivery
   * was not pending.
   */
  async failUnattemptable(id: string, maxAttempts: number): Promise<string | undefined> {
    const [rows] = await this.db.query(
      `UPDATE webhook_deliveries d SET status = 'failed', next_attempt_at = NULL,
              last_error = CASE WHEN d.attempts >= $2 THEN 'no attempts left'
                                WHEN EXISTS (SELECT 1 FROM institutions i WHERE i.id = d.institution_id AND i.webhook_disabled_at IS NOT NULL)
                                THEN 'the webhook is disabled (the receiver answered 410 Gone)'
                                ELSE 'the institution has no webhook any more' END
        WHERE d.id = $1 AND d.status = 'pending'
          AND (d.attempts >= $2
               OR NOT EXISTS (SELECT 1 FROM institutions i WHERE i.id = d.institution_id AND ${SUBSCRIBED}))
       RETURNING d.last_error AS reason`,
      [id, maxAttempts],
    );
    return (rows as Array<{ reason: string }>)[0]?.reason;
  }

  /**
   * The receiver answered 410 Gone at `url`: its institution's webhook is disabled,
   * unless the URL has changed since (a new receiver) or it is disabled already. Returns
   * the institution's code when this disabled it.
   */
  async disable(executor: SqlExecutor, institutionId: string, url: string): Promise<string | undefined> {
    const [rows] = await executor.query(
      `UPDATE institutions SET webhook_disabled_at = now()
        WHERE id = $1 AND webhook_url = $2 AND webhook_disabled_at IS NULL
       RETURNING code`,
      [institutionId, url],
    );
    return (rows as Array<{ code: string }>)[0]?.code;
  }

  /** Records how an attempt ended and what comes next, unless another run has moved on. */
  async finishAttempt(id: string, attempt: number, result: AttemptResult, outcome: AttemptOutcome): Promise<void> {
    await this.db.query(
      `WITH finished AS (
         UPDATE webhook_delivery_attempts SET duration_ms = $3, status_code = $4, error = $5
          WHERE delivery_id = $1 AND attempt = $2
       )
       UPDATE webhook_deliveries
          SET status = $6::text,
              next_attempt_at = CASE WHEN $6::text = 'pending' THEN now() + $7::integer * interval '1 millisecond' END,
              last_status_code = $4, last_error = $5,
              delivered_at = CASE WHEN $6::text = 'delivered' THEN now() END
        WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
      [
        id,
        attempt,
        result.durationMs,
        result.statusCode,
        result.error,
        outcome.status,
        outcome.status === 'pending' ? outcome.retryInMs : null,
      ],
    );
  }

  /** Pending deliveries whose next attempt is due, oldest first (the sweeper's work). */
  async due(limit: number): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.db.query(
      `SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }

  async listForInstitution(
    institutionId: string,
    filter: { status?: DeliveryStatus; limit: number },
  ): Promise<WebhookDeliveryRecord[]> {
    return this.db.query(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d
        WHERE d.institution_id = $1 AND ($2::text IS NULL OR d.status = $2::text)
        ORDER BY d.created_at DESC, d.id DESC LIMIT $3`,
      [institutionId, filter.status ?? null, filter.limit],
    );
  }

  async findForInstitution(institutionId: string, id: string): Promise<WebhookDeliveryRecord | undefined> {
    const rows: WebhookDeliveryRecord[] = await this.db.query(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.institution_id = $1 AND d.id = $2`,
      [institutionId, id],
    );
    return rows[0];
  }
}
