import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QueueName } from '../../src/queue/queues.js';
import { CSV_HEADER } from '../../src/register/register-row.js';
import { eventually, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';

/**
 * Register uploads are bounded per institution: one queued or running at a time
 * (decided by a partial unique index, so also between concurrent requests), and the
 * bytes it may spool (REGISTER_SPOOL_MAX_BYTES_PER_INSTITUTION).
 */

const SPOOL_MAX = 1536 * 1024;

/** A valid register of about `bytes` bytes. */
function registerFile(bytes: number, first = 1): Buffer {
  const lines = [CSV_HEADER];
  let size = CSV_HEADER.length + 1;
  for (let n = first; size < bytes; n++) {
    const line = [`C${n}`, '001', 'ordinary', String(n).padStart(7, '0'), 'ヤマダ タロウ', '1980-04-01', '100-0013', '東京都千代田区霞が関1丁目2番3号', 'open'].join(',');
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** POST of `body` with chunked transfer encoding (no Content-Length), in 64 KiB writes. */
function chunkedUpload(server: http.Server, who: TestInstitution, body: Buffer): Promise<{ status: number; body: string }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/register-imports?mode=full',
        agent: false,
        headers: { ...who.auth, 'content-type': 'text/csv; charset=utf-8', 'transfer-encoding': 'chunked', connection: 'close' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    // The server may answer and close before the whole body is sent.
    req.on('error', (error) => (req.writableEnded ? undefined : reject(error)));
    void (async () => {
      for (let offset = 0; offset < body.length && !req.destroyed; offset += 64 * 1024) {
        if (!req.write(body.subarray(offset, offset + 64 * 1024))) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(() => undefined);
  });
}

describe('register uploads: one at a time per institution, and a bounded spool', () => {
  let t: TestApp;
  let server: http.Server;
  let bank: TestInstitution;
  let other: TestInstitution;
  let racer: TestInstitution;
  let big: TestInstitution;
  let leftover: TestInstitution;

  beforeAll(async () => {
    t = await startTestApp({ env: { REGISTER_SPOOL_MAX_BYTES_PER_INSTITUTION: String(SPOOL_MAX) } });
    const scopes = ['register:write', 'register:read'];
    bank = await t.createInstitution('0411', scopes);
    other = await t.createInstitution('0412', scopes);
    racer = await t.createInstitution('0413', scopes);
    big = await t.createInstitution('0414', scopes);
    leftover = await t.createInstitution('0415', scopes);
    server = t.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  const upload = (who: TestInstitution, body: Buffer) =>
    t.http.post('/v1/register-imports?mode=full').set(who.auth).set('content-type', 'text/csv; charset=utf-8').send(body);
  const importsOf = (who: TestInstitution) =>
    t.db.query('SELECT id, status FROM register_imports WHERE institution_id = $1', [who.id]);
  const spooledOf = async (who: TestInstitution) =>
    Number(
      (
        await t.db.query(
          `SELECT coalesce(sum(octet_length(c.data)), 0) AS bytes FROM register_import_chunks c
             JOIN register_imports r ON r.id = c.import_id WHERE r.institution_id = $1`,
          [who.id],
        )
      )[0].bytes,
    );

  it('refuses an upload over the spool bound with 413 REGISTER_SPOOL_FULL, keeping nothing (Content-Length known)', async () => {
    const refused = await upload(big, registerFile(SPOOL_MAX + 100_000)).expect(413);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body.code).toBe('REGISTER_SPOOL_FULL');
    expect(await importsOf(big)).toEqual([]);
    expect(await spooledOf(big)).toBe(0);
  });

  it('refuses it when the bound is crossed while spooling (chunked), removing what was spooled', async () => {
    // Over 1 MiB: the first chunk is written to the spool before the bound is crossed.
    const refused = await chunkedUpload(server, big, registerFile(3 * 1024 * 1024));
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body).code).toBe('REGISTER_SPOOL_FULL');
    expect(await importsOf(big)).toEqual([]);
    expect(await spooledOf(big)).toBe(0);
    // Within the bound, the same institution's upload is taken.
    await upload(big, registerFile(SPOOL_MAX - 100_000)).expect(202);
    expect(await spooledOf(big)).toBeGreaterThan(1024 * 1024);
  });

  it("drops what an ended import left spooled before counting the institution's spool", async () => {
    const [{ id }] = await t.db.query(
      `INSERT INTO register_imports (id, institution_id, source, mode, format, encoding, status, completed_at)
       VALUES (gen_random_uuid(), $1, 'upload', 'full', 'csv', 'utf-8', 'completed', now()) RETURNING id`,
      [leftover.id],
    );
    await t.db.query(`INSERT INTO register_import_chunks (import_id, seq, data) VALUES ($1, 0, $2)`, [id, Buffer.alloc(1024 * 1024)]);
    await upload(leftover, registerFile(SPOOL_MAX - 100_000)).expect(202);
    expect(await t.db.query('SELECT 1 FROM register_import_chunks WHERE import_id = $1', [id])).toEqual([]);
  });

  it('answers 409 REGISTER_IMPORT_IN_PROGRESS to a second upload while one is queued, writing nothing', async () => {
    const first = await upload(bank, registerFile(10_000)).expect(202);
    const second = await upload(bank, registerFile(10_000)).expect(409);
    expect(second.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(second.body.code).toBe('REGISTER_IMPORT_IN_PROGRESS');
    expect((await importsOf(bank)).map((r) => r.id)).toEqual([first.body.id]);
    const audited = await t.db.query("SELECT 1 FROM audit_events WHERE action = 'register.import' AND resource_id = $1", [first.body.id]);
    expect(audited).toHaveLength(1);
    // Another institution is not held up.
    await upload(other, registerFile(10_000)).expect(202);
  });

  it('lets exactly one of concurrent uploads through (the database decides)', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => upload(racer, registerFile(200_000))));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409, 409]);
    const accepted = answers.find((a) => a.status === 202)!;
    expect((await importsOf(racer)).map((r) => r.id)).toEqual([accepted.body.id]);
  });

  it('takes the next upload once the import has ended', async () => {
    await t.startWorker();
    const [{ id }] = await importsOf(bank);
    await eventually(
      async () => (await t.http.get(`/v1/register-imports/${id}`).set(bank.auth).expect(200)).body,
      (view) => view.status === 'completed',
      30_000,
    );
    await upload(bank, registerFile(10_000)).expect(202);
    // Every import ends before the worker is closed (closing waits for a running one).
    await eventually(
      () => t.db.query("SELECT 1 FROM register_imports WHERE status IN ('queued', 'running')"),
      (rows) => rows.length === 0,
      60_000,
    );
  }, 90_000);
});

describe('register uploads that nothing would finish (the sweeper)', () => {
  let t: TestApp;
  let lost: TestInstitution;
  let broken: TestInstitution;
  let spooling: TestInstitution;

  beforeAll(async () => {
    t = await startTestApp({ env: { REGISTER_IMPORT_SWEEP_INTERVAL_MS: '300', REGISTER_UPLOAD_IDLE_TIMEOUT_MS: '60000' } });
    const scopes = ['register:write', 'register:read'];
    lost = await t.createInstitution('0421', scopes);
    broken = await t.createInstitution('0422', scopes);
    spooling = await t.createInstitution('0423', scopes);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  const upload = (who: TestInstitution, body: Buffer) =>
    t.http.post('/v1/register-imports?mode=full').set(who.auth).set('content-type', 'text/csv; charset=utf-8').send(body);
  const statusOf = async (id: string) => (await t.db.query('SELECT status, refusal FROM register_imports WHERE id = $1', [id]))[0];
  /** An upload that the API was spooling when it died: queued, part of its file spooled, no job. */
  const interruptedUpload = async (who: TestInstitution, idleFor: string) => {
    const [{ id }] = await t.db.query(
      `INSERT INTO register_imports (id, institution_id, source, mode, format, encoding, status, touched_at)
       VALUES (gen_random_uuid(), $1, 'upload', 'full', 'csv', 'utf-8', 'queued', now() - $2::interval) RETURNING id`,
      [who.id, idleFor],
    );
    await t.db.query('INSERT INTO register_import_chunks (import_id, seq, data) VALUES ($1, 0, $2)', [id, registerFile(20_000)]);
    return id as string;
  };

  it('an upload whose job Redis lost is enqueued again from its spool and completes', async () => {
    const accepted = await upload(lost, registerFile(30_000)).expect(202);
    // Redis loses every register job (a flush, a failover without persistence).
    const queue = t.app.get<Queue>(getQueueToken(QueueName.Register), { strict: false });
    await queue.obliterate({ force: true });
    expect(await queue.getJob(accepted.body.id)).toBeUndefined();

    const interrupted = await interruptedUpload(broken, '1 hour');
    const fresh = await interruptedUpload(spooling, '0 seconds');
    await t.startWorker();

    const done = await eventually(
      async () => (await t.http.get(`/v1/register-imports/${accepted.body.id}`).set(lost.auth).expect(200)).body,
      (view) => view.status === 'completed',
      30_000,
    );
    expect(done.counts.inserted).toBeGreaterThan(0);
    const [{ rows }] = await t.db.query('SELECT count(*)::int AS rows FROM account_register WHERE institution_id = $1', [lost.id]);
    expect(rows).toBe(done.counts.inserted);

    // The upload that broke off an hour ago ends as failed, its partial spool deleted ...
    const failed = await eventually(() => statusOf(interrupted), (row) => row.status === 'failed', 10_000);
    expect(failed.refusal).toMatch(/broke off/);
    expect(await t.db.query('SELECT 1 FROM register_import_chunks WHERE import_id = $1', [interrupted])).toEqual([]);
    // ... and no longer holds up the institution.
    await upload(broken, registerFile(10_000)).expect(202);

    // One still spooling (touched just now) is left alone, and never run from a partial spool.
    expect(await statusOf(fresh)).toEqual({ status: 'queued', refusal: null });
    await upload(spooling, registerFile(10_000)).expect(409);
    expect(await t.db.query('SELECT 1 FROM account_register WHERE institution_id = $1 LIMIT 1', [spooling.id])).toEqual([]);
  }, 60_000);
});
