import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getQueueToken } from '@nestjs/bullmq';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { DataSource, type EntityManager } from 'typeorm';
import { MetricsService } from '../../src/metrics/metrics.service.js';
import { JOB_SCHEDULERS, QueueName, queuePrefix } from '../../src/queue/queues.js';
import { WebhooksService, type WebhookEvent } from '../../src/webhooks/webhooks.service.js';
import { eventually, startTestApp, TestApp } from './support/test-app.js';

/** What a receiver answers, in order; `hang` never answers. Once the script is used up, 200. */
type Answer = number | 'hang' | { status: number; headers: Record<string, string> };

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** Marks the receivers' response bodies: none may end up in our records. */
const RESPONSE_MARKER = 'receiver-response-body-7f3a';

/** A bank's webhook endpoint: node:http on a free port, answering from a script per path. */
class Receiver {
  readonly received: Received[] = [];
  private readonly scripts = new Map<string, Answer[]>();
  private server?: Server;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        const answer = this.scripts.get(path)?.shift() ?? 200;
        if (answer === 'hang') return;
        const [status, headers] = typeof answer === 'number' ? [answer, {}] : [answer.status, answer.headers];
        res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(`${RESPONSE_MARKER} ${status}`);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}${path}`;
  }

  script(path: string, answers: Answer[]): void {
    this.scripts.set(path, [...answers]);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
}

/** The receiver's side of the Standard Webhooks check, written independently of the service's code. */
function verifies(shownSecret: string, request: Received): boolean {
  const key = Buffer.from(shownSecret.replace(/^whsec_/, ''), 'base64');
  const id = request.headers['webhook-id'];
  const timestamp = request.headers['webhook-timestamp'];
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${request.body}`).digest('base64');
  return String(request.headers['webhook-signature'])
    .split(' ')
    .some((signature) => signature === `v1,${expected}`);
}

/**
 * A receiver path of its own per webhook. Not a bare UUID: its last group is 12 hex
 * digits, all decimal in 0.36% of UUIDs, and a URL holding a 12-digit number is refused
 * as a possible My Number (422).
 */
let hookSeq = 0;
const hookPath = () => `/hooks/${++hookSeq}-${randomUUID().slice(0, 8)}`;

const BACKOFF_MS = 150;
const OVERLAP_S = 2;
const MAX_ATTEMPTS = 4;
const TIMEOUT_MS = 800;

describe('completion webhooks', () => {
  const receiver = new Receiver();
  let t: TestApp;
  let webhooks: WebhooksService;
  let dataSource: DataSource;
  let queue: Queue;
  let worker: INestApplicationContext;
  let nextCode = 100;

  interface Bank {
    id: string;
    code: string;
    auth: { Authorization: string };
    path: string;
    secret?: string;
  }

  /** A hosted institution with a key holding `inquiries:read`; with a webhook unless `path` is null. */
  async function createBank(path: string | null = hookPath()): Promise<Bank> {
    const code = String(++nextCode).padStart(4, '0');
    const body = path ? { code, name: `Bank ${code}`, webhookUrl: receiver.url(path) } : { code, name: `Bank ${code}` };
    const created = await t.http.post('/v1/institutions').set(t.admin).send(body);
    // The answer's body in the failure message, not only its status.
    expect({ status: created.status, body: created.body }).toMatchObject({ status: 201 });
    const key = await t.http.post(`/v1/institutions/${code}/api-keys`).set(t.admin).send({ name: 'reader', scopes: ['inquiries:read'] }).expect(201);
    return { id: created.body.id, code, auth: { Authorization: `Bearer ${key.body.key}` }, path: path ?? '', secret: created.body.webhookSecret };
  }

  const completed = (inquiryId = randomUUID()) => ({ inquiryId, kind: 'inheritance', status: 'completed' });

  /** One event through the outbox (which records a fan-out's events in one statement). */
  const recordOne = async (tx: EntityManager, event: WebhookEvent): Promise<string | null> => (await webhooks.record(tx, [event]))[0] ?? null;

  /** What the inquiry code does: record in its transaction, dispatch after the commit. */
  async function announce(bank: Bank, data: Record<string, unknown> = completed()): Promise<string | null> {
    const event: WebhookEvent = { type: 'inquiry.completed', institutionId: bank.id, data };
    const id = await dataSource.transaction((tx) => recordOne(tx, event));
    if (id) await webhooks.dispatch([id]);
    return id;
  }

  const delivery = async (bank: Bank, id: string) => (await t.http.get(`/v1/webhook-deliveries/${id}`).set(bank.auth).expect(200)).body;
  const settled = (bank: Bank, id: string, timeoutMs = 15_000) =>
    eventually(() => delivery(bank, id), (d) => d.status !== 'pending', timeoutMs);

  async function deliveriesMetric(): Promise<Record<string, number>> {
    const metric = await worker.get(MetricsService).webhookDeliveries.get();
    return Object.fromEntries(metric.values.map((v) => [String(v.labels.outcome), v.value]));
  }

  beforeAll(async () => {
    await receiver.start();
    t = await startTestApp({
      env: {
        WEBHOOK_BACKOFF_MS: String(BACKOFF_MS),
        WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
        WEBHOOK_SWEEP_INTERVAL_MS: '300',
        WEBHOOK_SECRET_OVERLAP_SECONDS: String(OVERLAP_S),
      },
    });
    webhooks = t.app.get(WebhooksService);
    dataSource = t.app.get(DataSource);
    queue = t.app.get<Queue>(getQueueToken(QueueName.Webhooks));
    worker = await t.startWorker();
  });
  afterAll(async () => {
    await t?.close();
    await receiver.stop();
  });

  describe('the signing secret', () => {
    it('is answered once when an institution is created with a webhook URL, and kept only sealed', async () => {
      const bank = await createBank();
      expect(bank.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const raw = Buffer.from(bank.secret!.slice('whsec_'.length), 'base64');
      expect(raw).toHaveLength(32);

      const read = await t.http.get(`/v1/institutions/${bank.code}`).set(t.admin).expect(200);
      expect(read.body).toEqual({
        id: bank.id,
        code: bank.code,
        name: `Bank ${bank.code}`,
        webhookUrl: receiver.url(bank.path),
        webhookDisabledAt: null,
        createdAt: expect.any(String),
      });
      const list = await t.http.get('/v1/institutions').set(t.admin).expect(200);
      expect(JSON.stringify(list.body)).not.toContain(bank.secret!.slice(6));

      const row = (await t.db.pool.query('SELECT * FROM institutions WHERE id = $1', [bank.id])).rows[0];
      expect(row.webhook_secret_master_key_id).toBe('test-master-1');
      expect(Buffer.isBuffer(row.webhook_secret_ciphertext)).toBe(true);
      expect(row.webhook_secret_ciphertext.includes(raw)).toBe(false);
      expect(JSON.stringify(row)).not.toContain(bank.secret!.slice(6));
    });

    it('is not made for an institution without a webhook URL', async () => {
      const bank = await createBank(null);
      expect(bank.secret).toBeUndefined();
      const row = (await t.db.pool.query('SELECT webhook_url, webhook_secret_ciphertext FROM institutions WHERE id = $1', [bank.id])).rows[0];
      expect(row).toEqual({ webhook_url: null, webhook_secret_ciphertext: null });
    });

    it('a new URL gets a new secret, the same URL none; rotation a new one, the old signing next to it for a while', async () => {
      const bank = await createBank(null);
      const path = hookPath();
      const set = await t.http.put(`/v1/institutions/${bank.code}/webhook`).set(t.admin).send({ url: receiver.url(path) }).expect(200);
      expect(set.body).toMatchObject({ id: bank.id, webhookUrl: receiver.url(path), webhookSecret: expect.stringMatching(/^whsec_/) });

      const again = await t.http.put(`/v1/institutions/${bank.code}/webhook`).set(t.admin).send({ url: receiver.url(path) }).expect(200);
      expect(again.body.webhookSecret).toBeUndefined();
      expect(again.body.webhookUrl).toBe(receiver.url(path));

      const rotated = await t.http.post(`/v1/institutions/${bank.code}/webhook/secret`).set(t.admin).expect(200);
      expect(rotated.body.webhookSecret).toMatch(/^whsec_/);
      expect(rotated.body.webhookSecret).not.toBe(set.body.webhookSecret);

      // Within WEBHOOK_SECRET_OVERLAP_SECONDS: signed with both, the new one first.
      const rotatedAt = Date.now();
      const id = (await announce({ ...bank, path }))!;
      expect((await settled(bank, id)).status).toBe('delivered');
      const [request] = receiver.at(path);
      expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(verifies(rotated.body.webhookSecret, request)).toBe(true);
      expect(verifies(set.body.webhookSecret, request)).toBe(true);
      // After it: the new one only.
      await new Promise((r) => setTimeout(r, Math.max(0, rotatedAt + OVERLAP_S * 1000 + 200 - Date.now())));
      const later = (await announce({ ...bank, path }))!;
      expect((await settled(bank, later)).status).toBe('delivered');
      const laterRequest = receiver.at(path)[1];
      expect(String(laterRequest.headers['webhook-signature']).split(' ')).toHaveLength(1);
      expect(verifies(rotated.body.webhookSecret, laterRequest)).toBe(true);
      expect(verifies(set.body.webhookSecret, laterRequest)).toBe(false);

      const moved = hookPath();
      const changed = await t.http.put(`/v1/institutions/${bank.code}/webhook`).set(t.admin).send({ url: receiver.url(moved) }).expect(200);
      expect(changed.body.webhookSecret).toMatch(/^whsec_/);
      const next = (await announce(bank))!;
      expect((await settled(bank, next)).url).toBe(receiver.url(moved));
      expect(verifies(changed.body.webhookSecret, receiver.at(moved)[0])).toBe(true);
      // A new URL has no overlap: the rotated secret no longer signs.
      expect(verifies(rotated.body.webhookSecret, receiver.at(moved)[0])).toBe(false);

      const audit = await t.db.pool.query(
        `SELECT action, actor_type FROM audit_events WHERE resource_id = $1 AND action LIKE 'webhook.%' ORDER BY id`,
        [bank.id],
      );
      expect(audit.rows).toEqual([
        { action: 'webhook.configure', actor_type: 'operator' },
        { action: 'webhook.rotate-secret', actor_type: 'operator' },
        { action: 'webhook.configure', actor_type: 'operator' },
      ]);
    });

    it('DELETE removes URL and secret: nothing is recorded any more, and a pending delivery is failed, not sent', async () => {
      const bank = await createBank();
      const pending = await whileWorkerStopped(async () => {
        const id = (await announce(bank))!;
        await t.http.delete(`/v1/institutions/${bank.code}/webhook`).set(t.admin).expect(204);
        await t.http.delete(`/v1/institutions/${bank.code}/webhook`).set(t.admin).expect(204);
        return id;
      });
      const row = (await t.db.pool.query('SELECT webhook_url, webhook_secret_ciphertext, webhook_secret_master_key_id FROM institutions WHERE id = $1', [bank.id])).rows[0];
      expect(row).toEqual({ webhook_url: null, webhook_secret_ciphertext: null, webhook_secret_master_key_id: null });
      expect(await announce(bank)).toBeNull();

      const failed = await settled(bank, pending);
      expect(failed).toMatchObject({ status: 'failed', attemptCount: 0, attempts: [], lastError: 'the institution has no webhook any more' });
      expect(receiver.at(bank.path)).toEqual([]);

      const rotate = await t.http.post(`/v1/institutions/${bank.code}/webhook/secret`).set(t.admin).expect(409);
      expect(rotate.body.code).toBe('WEBHOOK_NOT_CONFIGURED');
      const audit = await t.db.pool.query(`SELECT action FROM audit_events WHERE resource_id = $1 AND action = 'webhook.remove'`, [bank.id]);
      expect(audit.rowCount).toBe(1);
    });

    it('refuses a URL that is not an absolute http(s) URL, or that carries a 12-digit number', async () => {
      const bank = await createBank(null);
      for (const url of ['ftp://bank.example/x', 'not a url', 'https://bank.example/hooks/123456789018', '']) {
        const res = await t.http.put(`/v1/institutions/${bank.code}/webhook`).set(t.admin).send({ url }).expect(422);
        expect(res.body.errors[0].path).toBe('url');
        expect(JSON.stringify(res.body)).not.toContain('123456789018');
      }
      await t.http.put('/v1/institutions/0999/webhook').set(t.admin).send({ url: receiver.url('/x') }).expect(404);
    });
  });

  describe('delivery', () => {
    it('a receiver that fails twice then accepts: delivered, three attempts recorded, each signed and timed', async () => {
      const bank = await createBank();
      receiver.script(bank.path, [500, 500, 200]);
      const before = await deliveriesMetric();
      const data = completed();
      const id = (await announce(bank, data))!;
      expect(id).toEqual(expect.any(String));

      const done = await settled(bank, id);
      expect(done).toMatchObject({
        id,
        eventType: 'inquiry.completed',
        status: 'delivered',
        attemptCount: 3,
        url: receiver.url(bank.path),
        nextAttemptAt: null,
        lastStatusCode: 200,
        lastError: null,
        deliveredAt: expect.any(String),
      });
      expect(done.attempts.map((a: { attempt: number; statusCode: number; error: string | null }) => [a.attempt, a.statusCode, a.error])).toEqual([
        [1, 500, 'HTTP 500'],
        [2, 500, 'HTTP 500'],
        [3, 200, null],
      ]);
      for (const attempt of done.attempts) expect(attempt.durationMs).toBeGreaterThanOrEqual(0);

      const requests = receiver.at(bank.path);
      expect(requests).toHaveLength(3);
      for (const request of requests) {
        expect(request.headers['content-type']).toBe('application/json');
        expect(request.headers['webhook-id']).toBe(id);
        expect(verifies(bank.secret!, request)).toBe(true);
        // Seconds, and recent: the timestamp is the attempt's, not the event's.
        const timestamp = Number(request.headers['webhook-timestamp']);
        expect(Number.isInteger(timestamp)).toBe(true);
        expect(Math.abs(timestamp - request.at / 1000)).toBeLessThan(5);
        expect(JSON.parse(request.body)).toEqual({ type: 'inquiry.completed', timestamp: expect.any(String), data });
        expect(request.body).toBe(requests[0].body);
      }
      expect(JSON.parse(requests[0].body)).toEqual(done.payload);
      // Exponential backoff: at least WEBHOOK_BACKOFF_MS, then twice that.
      expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(BACKOFF_MS - 20);
      expect(requests[2].at - requests[1].at).toBeGreaterThanOrEqual(2 * BACKOFF_MS - 20);

      const after = await deliveriesMetric();
      expect((after.delivered ?? 0) - (before.delivered ?? 0)).toBe(1);
      expect((after.retried ?? 0) - (before.retried ?? 0)).toBe(2);
    });

    it("a receiver's Retry-After longer than the schedule is waited for; a shorter one is not", async () => {
      const bank = await createBank();
      receiver.script(bank.path, [
        { status: 503, headers: { 'retry-after': '1' } },
        { status: 429, headers: { 'retry-after': '0' } },
        200,
      ]);
      const id = (await announce(bank))!;
      const done = await settled(bank, id);
      expect(done).toMatchObject({ status: 'delivered', attemptCount: 3 });
      const requests = receiver.at(bank.path);
      // 1 s asked for, where the schedule says BACKOFF_MS; then the schedule's 2 × BACKOFF_MS.
      expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(1000 - 20);
      expect(requests[2].at - requests[1].at).toBeGreaterThanOrEqual(2 * BACKOFF_MS - 20);
    });

    it('410 Gone stops at once and disables the webhook until its URL is set again', async () => {
      const bank = await createBank();
      receiver.script(bank.path, [410, 200]);
      const before = await deliveriesMetric();
      // A second delivery, recorded but held back (not queued, not due for the sweeper):
      // it is still pending when the first one's answer disables the webhook.
      const waiting = (await dataSource.transaction((tx) => recordOne(tx, { type: 'inquiry.completed', institutionId: bank.id, data: completed() })))!;
      await t.db.query(`UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [waiting]);
      const id = (await announce(bank))!;
      const done = await settled(bank, id);
      expect(done).toMatchObject({ status: 'failed', attemptCount: 1, lastStatusCode: 410, lastError: 'HTTP 410', nextAttemptAt: null, deliveredAt: null });
      const institution = async () => (await t.http.get(`/v1/institutions/${bank.code}`).set(t.admin).expect(200)).body;
      expect((await institution()).webhookDisabledAt).toEqual(expect.any(String));
      // Disabled: the pending delivery fails unsent, and nothing new is recorded.
      await webhooks.dispatch([waiting]);
      expect(await settled(bank, waiting)).toMatchObject({ status: 'failed', attemptCount: 0, lastError: 'the webhook is disabled (the receiver answered 410 Gone)' });
      expect(await announce(bank)).toBeNull();
      await new Promise((r) => setTimeout(r, 4 * BACKOFF_MS));
      expect(receiver.at(bank.path)).toHaveLength(1);
      expect((await deliveriesMetric()).failed - (before.failed ?? 0)).toBe(2);
      const [audited] = await t.db.query(
        `SELECT actor_type, details FROM audit_events WHERE action = 'webhook.disable' AND resource_id = $1`,
        [bank.id],
      );
      expect(audited).toMatchObject({ actor_type: 'system', details: { code: bank.code, statusCode: 410 } });

      // The same URL set again: enabled, with the same secret (none is answered); delivered.
      const enabled = await t.http.put(`/v1/institutions/${bank.code}/webhook`).set(t.admin).send({ url: receiver.url(bank.path) }).expect(200);
      expect(enabled.body).toMatchObject({ webhookDisabledAt: null });
      expect(enabled.body.webhookSecret).toBeUndefined();
      const again = (await announce(bank))!;
      expect(await settled(bank, again)).toMatchObject({ status: 'delivered', attemptCount: 1 });
      expect(verifies(bank.secret!, receiver.at(bank.path)[1])).toBe(true);
    });

    it(`gives up after WEBHOOK_MAX_ATTEMPTS (${MAX_ATTEMPTS}); redirects are not followed; timeouts and refused connections count`, async () => {
      const bank = await createBank();
      receiver.script(bank.path, [503, 302, 'hang', 500, 200]);
      const id = (await announce(bank))!;
      const done = await settled(bank, id, 20_000);
      expect(done.status).toBe('failed');
      expect(done.attempts.map((a: { statusCode: number | null; error: string }) => [a.statusCode, a.error])).toEqual([
        [503, 'HTTP 503'],
        [302, 'HTTP 302'],
        [null, `no answer within ${TIMEOUT_MS} ms`],
        [500, 'HTTP 500'],
      ]);
      expect(receiver.at(bank.path)).toHaveLength(MAX_ATTEMPTS);

      // Nobody listening at all.
      const closed = await createBank(null);
      await t.http.put(`/v1/institutions/${closed.code}/webhook`).set(t.admin).send({ url: `http://127.0.0.1:${await closedPort()}/` }).expect(200);
      const refused = await settled(closed, (await announce(closed))!, 20_000);
      expect(refused.attempts[0]).toMatchObject({ statusCode: null, error: 'connection failed (ECONNREFUSED)' });
    });

    it('never records a response body', async () => {
      const { rows } = await t.db.pool.query(
        `SELECT (SELECT count(*) FROM webhook_deliveries WHERE last_error LIKE $1 OR payload::text LIKE $1)
              + (SELECT count(*) FROM webhook_delivery_attempts WHERE error LIKE $1) AS n`,
        [`%${RESPONSE_MARKER}%`],
      );
      expect(Number(rows[0].n)).toBe(0);
      expect(receiver.received.length).toBeGreaterThan(0);
    });

    it('records many events in one statement, each only where its institution has a webhook', async () => {
      const [a, none, b] = [await createBank(), await createBank(null), await createBank()];
      const ids = await dataSource.transaction((tx) =>
        webhooks.record(tx, [a, none, b].map((bank) => ({ type: 'inquiry.completed' as const, institutionId: bank.id, data: completed() }))),
      );
      expect(ids).toHaveLength(2);
      const { rows } = await t.db.pool.query('SELECT institution_id FROM webhook_deliveries WHERE id = ANY($1) ORDER BY institution_id', [ids]);
      expect(rows.map((r: { institution_id: string }) => r.institution_id)).toEqual([a.id, b.id].sort());
      expect(await dataSource.transaction((tx) => webhooks.record(tx, []))).toEqual([]);
      // Not dispatched, and gone: the sweeper must not deliver them under the other tests.
      await t.db.pool.query('DELETE FROM webhook_deliveries WHERE id = ANY($1)', [ids]);
    });

    it('an institution without a webhook URL gets no delivery; a rolled-back event none either', async () => {
      const bank = await createBank(null);
      expect(await announce(bank)).toBeNull();
      const withUrl = await createBank();
      await expect(
        dataSource.transaction(async (tx) => {
          expect(await recordOne(tx, { type: 'inquiry.completed', institutionId: withUrl.id, data: completed() })).toEqual(expect.any(String));
          throw new Error('the inquiry failed to commit');
        }),
      ).rejects.toThrow('the inquiry failed to commit');
      const { rows } = await t.db.pool.query('SELECT count(*) FROM webhook_deliveries WHERE institution_id = ANY($1)', [[bank.id, withUrl.id]]);
      expect(Number(rows[0].count)).toBe(0);
    });

    it('job data holds the delivery id only', async () => {
      const bank = await createBank();
      await whileWorkerStopped(async () => {
        const id = (await announce(bank))!;
        const job = (await queue.getJob(id))!;
        expect(job.name).toBe('webhook.deliver');
        expect(job.data).toEqual({ deliveryId: id });
      });
    });

    it('a delivered delivery is not sent again when its job runs twice', async () => {
      const bank = await createBank();
      const id = (await announce(bank))!;
      const first = await settled(bank, id);
      expect(first.status).toBe('delivered');

      // Dispatching again is a no-op while the job is kept; a fresh job for the same id finds it delivered.
      await webhooks.dispatch([id]);
      await removeJob(id);
      await webhooks.dispatch([id]);
      await eventually(() => jobState(id), (state) => state === 'completed');
      expect(receiver.at(bank.path)).toHaveLength(1);
      expect(await delivery(bank, id)).toEqual(first);
    });

    it('a delivery whose attempts were used up by runs that died is failed, not sent', async () => {
      const bank = await createBank();
      const id = await whileWorkerStopped(async () => {
        const delivery = (await announce(bank))!;
        await t.db.pool.query('UPDATE webhook_deliveries SET attempts = $2 WHERE id = $1', [delivery, MAX_ATTEMPTS]);
        return delivery;
      });
      expect(await settled(bank, id)).toMatchObject({ status: 'failed', attemptCount: MAX_ATTEMPTS, lastError: 'no attempts left' });
      expect(receiver.at(bank.path)).toEqual([]);
    });

    it('a secret copied from another institution does not sign: attempts fail, nothing is sent', async () => {
      const [bank, other] = [await createBank(), await createBank()];
      await t.db.pool.query(
        `UPDATE institutions SET (webhook_secret_ciphertext, webhook_secret_master_key_id) =
           (SELECT webhook_secret_ciphertext, webhook_secret_master_key_id FROM institutions WHERE id = $2)
         WHERE id = $1`,
        [bank.id, other.id],
      );
      const done = await settled(bank, (await announce(bank))!);
      expect(done.status).toBe('failed');
      expect(done.attempts).toHaveLength(MAX_ATTEMPTS);
      for (const attempt of done.attempts) expect(attempt).toMatchObject({ statusCode: null, error: 'signing secret unavailable' });
      expect(receiver.at(bank.path)).toEqual([]);
    });

    it('the sweeper sends what Redis lost: a worker restart after the queue keys were deleted', async () => {
      const bank = await createBank();
      const [dispatched, undispatched] = await whileWorkerStopped(async () => {
        const first = (await announce(bank))!;
        // An event whose dispatch never happened (the API stopped right after its commit).
        const second = (await dataSource.transaction((tx) =>
          recordOne(tx, { type: 'inquiry.completed', institutionId: bank.id, data: completed() }),
        ))!;
        expect(await jobState(first)).toBe('waiting');
        await deleteQueueKeys();
        expect(await jobState(first)).toBeUndefined();
        return [first, second];
      });
      for (const id of [dispatched, undispatched]) expect((await settled(bank, id)).status).toBe('delivered');
      expect(receiver.at(bank.path).map((r) => r.headers['webhook-id']).sort()).toEqual([dispatched, undispatched].sort());
    });

    it('the sweeper replaces a job that BullMQ ended while Postgres still says pending', async () => {
      const bank = await createBank();
      const id = await whileWorkerStopped(async () => {
        const delivery = (await announce(bank))!;
        // Nothing else may take a job meanwhile (the restarted worker puts the scheduler back).
        await queue.removeJobScheduler(JOB_SCHEDULERS.webhookSweep.id);
        await failJobWithoutRunningIt(delivery);
        expect(await jobState(delivery)).toBe('failed');
        return delivery;
      });
      expect((await settled(bank, id)).status).toBe('delivered');
      expect(receiver.at(bank.path)).toHaveLength(1);
    });
  });

  describe('the deliveries API', () => {
    let a: Bank;
    let b: Bank;
    let aDelivery: string;

    beforeAll(async () => {
      a = await createBank();
      b = await createBank();
      receiver.script(a.path, [410]);
      aDelivery = (await announce(a))!;
      await settled(a, aDelivery);
      // The 410 disabled a's webhook; its URL set again enables it.
      await t.http.put(`/v1/institutions/${a.code}/webhook`).set(t.admin).send({ url: receiver.url(a.path) }).expect(200);
      await settled(a, (await announce(a))!);
      await settled(b, (await announce(b))!);
    });

    it('lists only the caller\'s deliveries, newest first, filtered by status and limited', async () => {
      const all = await t.http.get('/v1/webhook-deliveries').set(a.auth).expect(200);
      expect(all.body.items).toHaveLength(2);
      expect(all.body.items.map((d: { status: string }) => d.status)).toEqual(['delivered', 'failed']);
      expect(all.body.items[1].id).toBe(aDelivery);
      expect(JSON.stringify(all.body)).not.toContain(b.path);

      const failed = await t.http.get('/v1/webhook-deliveries').query({ status: 'failed' }).set(a.auth).expect(200);
      expect(failed.body.items.map((d: { id: string }) => d.id)).toEqual([aDelivery]);
      const one = await t.http.get('/v1/webhook-deliveries').query({ limit: 1 }).set(a.auth).expect(200);
      expect(one.body.items).toHaveLength(1);
      expect(one.body.items[0].attempts).toHaveLength(1);

      for (const query of [{ limit: 0 }, { limit: 101 }, { limit: 'x' }, { status: 'lost' }, { other: 1 }]) {
        const res = await t.http.get('/v1/webhook-deliveries').query(query).set(a.auth).expect(422);
        expect(res.body.code).toBe('VALIDATION_FAILED');
      }
    });

    it("another institution's delivery is 404, never the row", async () => {
      const res = await t.http.get(`/v1/webhook-deliveries/${aDelivery}`).set(b.auth).expect(404);
      expect(res.body.code).toBe('NOT_FOUND');
      expect(JSON.stringify(res.body)).not.toContain(aDelivery);
      await t.http.get('/v1/webhook-deliveries/not-a-uuid').set(a.auth).expect(404);
      await t.http.get(`/v1/webhook-deliveries/${randomUUID()}`).set(a.auth).expect(404);
    });

    it('needs inquiries:read and an institution key', async () => {
      const key = await t.http.post(`/v1/institutions/${a.code}/api-keys`).set(t.admin).send({ name: 'writer', scopes: ['linkages:write'] }).expect(201);
      await t.http.get('/v1/webhook-deliveries').set({ Authorization: `Bearer ${key.body.key}` }).expect(403);
      await t.http.get('/v1/webhook-deliveries').set(t.admin).expect(403);
      await t.http.get('/v1/webhook-deliveries').expect(401);
    });
  });

  // ---------------------------------------------------------------------------

  /** Runs `fn` with no worker processing jobs, then starts one again. */
  async function whileWorkerStopped<T>(fn: () => Promise<T>): Promise<T> {
    await worker.close();
    try {
      return await fn();
    } finally {
      worker = await t.startWorker();
    }
  }

  /** Takes the job as a worker would and ends it as failed for good, as if a run had crashed on its last attempt. */
  async function failJobWithoutRunningIt(id: string): Promise<void> {
    const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
    const manual = new Worker(QueueName.Webhooks, null, { connection, prefix: queuePrefix(t.config, QueueName.Webhooks) });
    try {
      const token = randomUUID();
      const job = await manual.getNextJob(token);
      expect(job?.id).toBe(id);
      await job!.moveToFailed(new UnrecoverableError('lost its lock'), token);
    } finally {
      await manual.close();
      connection.disconnect();
    }
  }

  /** A local port that nothing listens on. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  async function jobState(id: string): Promise<string | undefined> {
    const job = await queue.getJob(id);
    return job ? await job.getState() : undefined;
  }

  async function removeJob(id: string): Promise<void> {
    await (await queue.getJob(id))?.remove();
  }

  /** As if Redis had been flushed: every key of the webhooks queue goes. */
  async function deleteQueueKeys(): Promise<void> {
    const redis = new Redis(t.config.REDIS_URL);
    try {
      const keys = await redis.keys(`${queuePrefix(t.config, QueueName.Webhooks)}:webhooks:*`);
      if (keys.length) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  }
});
