import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { BlindIndex } from '../../src/crypto/blind-index.js';
import { generateNodeKeyMaterial, loadKeyMaterial, type KeyMaterial } from '../../src/crypto/key-material.js';
import { HostedLocations } from '../../src/locations/hosted-locations.js';
import { standaloneRotationRunner } from '../../src/keys/standalone-runner.js';
import { MasterKeySealer, webhookSecretAad } from '../../src/crypto/master-key-sealer.js';
import { formatWebhookSecret } from '../../src/webhooks/webhook-signature.js';
import { QueueName, queuePrefix } from '../../src/queue/queues.js';
import { finalInquiry, inheritanceBody } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { LINKAGE_SUBJECT } from './support/inquiries.js';
import { eventually, linkageBody, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { WorkerProcess } from './support/worker-process.js';

/**
 * Rotation of the blind-index key and of the master key on one database, through the
 * restarts an operator does: the service first runs with key 1 only, then with keys 1
 * and 2 (2 active) while the rotation runs, then with key 2 only.
 *
 * "Half done" is made deterministic with a row lock: the test locks one subject, so the
 * rotation's batch that holds it waits, with the batches before it committed (rows under
 * the new version) and the rows after it still under the old one.
 */
describe('key rotation', () => {
  let db: TestDatabase;
  let t: TestApp | undefined;
  let bank: TestInstitution;
  let webhookSecret: string;
  let previousWebhookSecret: string;
  const key = () => randomBytes(32).toString('base64');
  const bi1 = `1:${key()}`;
  const bi2 = `2:${key()}`;
  const m1 = `m1:${key()}`;
  const m2 = `m2:${key()}`;
  const node = generateNodeKeyMaterial('node-rotation');
  const nodeEnv = {
    NODE_ID: node.nodeId,
    NODE_SIGNING_KEY: JSON.stringify(node.signingPrivateJwk),
    NODE_ENCRYPTION_KEY: JSON.stringify(node.encryptionPrivateJwk),
  };
  const keysEnv = (blind: string, masters: string, extra: Record<string, string> = {}) => ({
    BLIND_INDEX_KEYS: blind,
    MASTER_KEYS: masters,
    ...nodeEnv,
    ...extra,
  });
  const SUBJECTS = 40;
  const numbers = Array.from({ length: SUBJECTS }, (_, i) => validMyNumber(81_000 + i));
  const neverLinked = validMyNumber(81_999);
  const sent = [...numbers, neverLinked];
  let account = 4_100_000;
  const accounts = new Map<string, string>();

  /** Every log line of every app and worker process of this file, for the scan at the end. */
  const logs: string[] = [];
  const restart = async (env: Record<string, string>): Promise<TestApp> => {
    if (t) {
      logs.push(t.logs.text);
      await t.close();
    }
    t = await startTestApp({ database: db, env });
    return t;
  };
  const pool = (): pg.Pool => db.pool;
  const versions = async (table: 'subjects' | 'inquiries') =>
    Object.fromEntries(
      (await pool().query(`SELECT blind_index_version AS v, count(*)::int AS n FROM ${table} GROUP BY 1`)).rows.map((r) => [r.v, r.n]),
    );
  const rotation = (id: string) => t!.http.get(`/v1/key-rotations/${id}`).set(t!.admin).expect(200);
  const finished = (id: string) =>
    eventually(() => rotation(id), (r) => ['completed', 'failed'].includes(r.body.status), 30_000).then((r) => r.body);
  /** Locks the subject in the middle of the id order, in a transaction of its own. */
  const lockMiddleSubject = async () => {
    const client = await pool().connect();
    await client.query('BEGIN');
    await client.query(`SELECT id FROM subjects WHERE id = (SELECT id FROM subjects ORDER BY id OFFSET $1 LIMIT 1) FOR UPDATE`, [SUBJECTS / 2]);
    return {
      release: async () => {
        await client.query('ROLLBACK');
        client.release();
      },
    };
  };
  const waitersOnLocks = async () =>
    Number(
      (await pool().query(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]
        .count,
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    await restart(keysEnv(bi1, m1));
    const created = await t!.http
      .post('/v1/institutions')
      .set(t!.admin)
      .send({ code: '0005', name: 'Bank 0005', webhookUrl: 'https://bank.example/hooks' })
      .expect(201);
    // Rotated once: the first secret keeps signing next to the new one (the overlap), so
    // both are sealed under m1, and a master-key rotation must re-seal both.
    previousWebhookSecret = created.body.webhookSecret;
    webhookSecret = (await t!.http.post('/v1/institutions/0005/webhook/secret').set(t!.admin).expect(200)).body.webhookSecret;
    const apiKey = await t!.http
      .post('/v1/institutions/0005/api-keys')
      .set(t!.admin)
      .send({ name: 'teller', scopes: ['linkages:write', 'linkages:read', 'inquiries:write', 'inquiries:read'] })
      .expect(201);
    bank = { id: created.body.id, code: '0005', key: apiKey.body.key, auth: { Authorization: `Bearer ${apiKey.body.key}` } };
    for (const myNumber of numbers) {
      const accountNumber = String(++account);
      accounts.set(myNumber, accountNumber);
      await t!.http
        .post('/v1/linkages')
        .set(bank.auth)
        .send(linkageBody(myNumber, { accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber }] }))
        .expect(201);
    }
    // Two final inquiries under version 1: about a linked number (re-indexed through its
    // subject) and about a number never linked here (which no rotation can re-index).
    await t!.startWorker();
    for (const myNumber of [numbers[3], neverLinked]) {
      const res = await t!.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(myNumber)).expect(202);
      await finalInquiry(t!, bank, res.body.id);
    }
    expect(await versions('subjects')).toEqual({ 1: SUBJECTS });
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db.drop();
  });

  it('scopes: an institution key is refused (403), no key 401; bad input is a problem, not a 500', async () => {
    await restart(keysEnv(bi1, m1));
    for (const req of [
      () => t!.http.post('/v1/key-rotations').send({ kind: 'blind-index' }),
      () => t!.http.get('/v1/key-rotations'),
    ]) {
      expect((await req().set(bank.auth)).status).toBe(403);
      expect((await req().set(bank.auth)).body.code).toBe('FORBIDDEN_SCOPE');
      expect((await req()).status).toBe(401);
    }
    expect((await t!.http.get(`/v1/key-rotations/${randomUUIDLike()}`).set(bank.auth)).status).toBe(403);
    const bad = await t!.http.post('/v1/key-rotations').set(t!.admin).send({ kind: 'everything' }).expect(422);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    await t!.http.get('/v1/key-rotations/not-a-uuid').set(t!.admin).expect(404);
    await t!.http.get(`/v1/key-rotations/${randomUUIDLike()}`).set(t!.admin).expect(404);
  });

  it('blind index: look-ups answer correctly while the rotation is half done, and after', async () => {
    // Rolling restart with version 2 added and active; version 1 still held.
    await restart(keysEnv(`${bi1},${bi2}`, m1, { BLIND_INDEX_ACTIVE_VERSION: '2', KEY_ROTATION_BATCH_SIZE: '5' }));
    const lock = await lockMiddleSubject();
    const started = await t!.http.post('/v1/key-rotations').set(t!.admin).send({ kind: 'blind-index' }).expect(202);
    expect(started.headers.location).toBe(`/v1/key-rotations/${started.body.id}`);
    expect(started.body).toMatchObject({ kind: 'blind-index', target: '2', status: 'queued', source: 'api' });
    const again = await t!.http.post('/v1/key-rotations').set(t!.admin).send({ kind: 'blind-index' }).expect(409);
    expect(again.body.code).toBe('KEY_ROTATION_IN_PROGRESS');

    await t!.startWorker();
    await eventually(waitersOnLocks, (n) => n > 0, 20_000);
    const half = (await rotation(started.body.id)).body;
    expect(half.status).toBe('running');
    expect(half.progress.done).toBeGreaterThan(0);
    expect(half.progress.done).toBeLessThan(half.progress.total);
    const during = await versions('subjects');
    expect(during[1]).toBeGreaterThan(0);
    expect(during[2]).toBeGreaterThan(0);

    // Every number, moved or not: its linkage by account, an attachment to the existing
    // subject (no second subject), and a location inquiry that finds it.
    const subjectsBefore = Number((await pool().query('SELECT count(*) FROM subjects')).rows[0].count);
    for (const [i, myNumber] of numbers.entries()) {
      const found = await t!.http
        .get('/v1/linkages')
        .query({ branchCode: '001', accountType: 'ordinary', accountNumber: accounts.get(myNumber) })
        .set(bank.auth)
        .expect(200);
      expect(found.body.items).toHaveLength(1);
      if (i % 4 !== 0) continue;
      const attached = await t!.http
        .post('/v1/linkages')
        .set(bank.auth)
        .send(linkageBody(myNumber, { accounts: [{ branchCode: '002', accountType: 'savings', accountNumber: String(++account) }] }))
        .expect(201);
      const { rows } = await pool().query('SELECT DISTINCT subject_id FROM linkages WHERE id = ANY($1::uuid[]) OR id = $2', [
        attached.body.linkages.map((l: { id: string }) => l.id),
        found.body.items[0].id,
      ]);
      expect(rows).toHaveLength(1);
    }
    expect(Number((await pool().query('SELECT count(*) FROM subjects')).rows[0].count)).toBe(subjectsBefore);
    for (const myNumber of [numbers[0], numbers[SUBJECTS / 2], numbers[SUBJECTS - 1]]) {
      const res = await t!.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(myNumber)).expect(202);
      const inquiry = await finalInquiry(t!, bank, res.body.id);
      expect(inquiry.results.find((r: { institutionCode: string }) => r.institutionCode === '0005')?.status).toBe('found');
    }
    // The rotation was still half done throughout.
    expect((await rotation(started.body.id)).body.status).toBe('running');

    await lock.release();
    const done = await finished(started.body.id);
    expect(done.status).toBe('completed');
    expect(await versions('subjects')).toEqual({ 2: SUBJECTS });
    expect(done.moved.subjects).toBe(SUBJECTS);
    // The inquiry about a linked number followed its subject; the one about a number never
    // linked here stays under version 1, and the rotation says so.
    expect(done.remaining).toEqual({ subjects: 0, inquiries: 1 });
    const inquiries = await versions('inquiries');
    expect(inquiries[1]).toBe(1);
    const listed = await t!.http.get('/v1/key-rotations').set(t!.admin).expect(200);
    expect(listed.body.items[0]).toMatchObject({ id: started.body.id, status: 'completed' });

    // Version 1 removed: subjects are all found with version 2 alone.
    await restart(keysEnv(bi2, m1));
    for (const myNumber of [numbers[1], numbers[SUBJECTS - 2]]) {
      const res = await t!.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(myNumber)).expect(202);
      await t!.startWorker();
      const inquiry = await finalInquiry(t!, bank, res.body.id);
      expect(inquiry.results.find((r: { institutionCode: string }) => r.institutionCode === '0005')?.status).toBe('found');
    }
  }, 120_000);

  it('start-up refuses keys that do not open the data: a blind-index version or a master key still in use', async () => {
    const base = { NODE_ENV: 'test', DATABASE_URL: db.url, QUEUE_PREFIX: t!.env.QUEUE_PREFIX };
    const noSubjectsKey = new WorkerProcess({ ...base, ...keysEnv(`3:${key()}`, m1) });
    expect(await noSubjectsKey.exited).toBe(1);
    expect(noSubjectsKey.output).toMatch(/blind-index version\(s\) 2 that BLIND_INDEX_KEYS does not hold/);
    const noMaster = new WorkerProcess({ ...base, ...keysEnv(bi2, m2) });
    expect(await noMaster.exited).toBe(1);
    expect(noMaster.output).toMatch(/master key\(s\) "m1" that MASTER_KEYS does not hold/);
  }, 60_000);

  it('master key: a crash mid-rotation (SIGKILL) resumes from the cursor; afterwards the old key can go', async () => {
    // More data keys than one, so that there are batches: each restart under a new
    // master key id would make one; here they are made directly under m1.
    await restart(keysEnv(bi2, m1));
    const material = (await import('../../src/crypto/key-material.js')).loadKeyMaterial(t!.config, () => undefined);
    const sealer = new MasterKeySealer(material);
    const { dataKeyAad } = await import('../../src/crypto/master-key-sealer.js');
    for (let i = 0; i < 30; i++) {
      const id = randomUUIDLike();
      const wrapped = sealer.seal(randomBytes(32), dataKeyAad(id));
      await pool().query(`INSERT INTO data_keys (id, master_key_id, wrapped_key, retired_at) VALUES ($1, $2, $3, now())`, [
        id,
        wrapped.masterKeyId,
        wrapped.ciphertext,
      ]);
    }
    await restart(keysEnv(bi2, `${m1},${m2}`, { MASTER_KEY_ACTIVE_ID: 'm2', KEY_ROTATION_BATCH_SIZE: '4' }));
    // Data keys, and the institution's current and previous webhook secrets.
    const total = Number((await pool().query(`SELECT count(*) FROM data_keys WHERE master_key_id <> 'm2'`)).rows[0].count) + 2;

    // Hold one data key in the middle, so the worker stops there with batches committed.
    const client = await pool().connect();
    await client.query('BEGIN');
    await client.query(`SELECT id FROM data_keys WHERE id = (SELECT id FROM data_keys WHERE master_key_id = 'm1' ORDER BY id OFFSET 15 LIMIT 1) FOR UPDATE`);
    const started = await t!.http.post('/v1/key-rotations').set(t!.admin).send({ kind: 'master-key' }).expect(202);
    const workerEnv = { ...t!.env, KEY_ROTATION_RESUME_INTERVAL_MS: '600000' };
    const first = new WorkerProcess(workerEnv);
    await eventually(waitersOnLocks, (n) => n > 0, 30_000);
    const before = (await rotation(started.body.id)).body;
    expect(before).toMatchObject({ status: 'running', runs: 1, progress: { total, phase: 'data-keys' } });
    expect(before.progress.done).toBeGreaterThan(0);
    await first.kill('SIGKILL');
    await client.query('ROLLBACK');
    client.release();
    // The killed worker's backend notices the closed socket once it has the row lock; it
    // then rolls its open batch back and ends, releasing the rotation's session lock.
    await eventually(
      async () => Number((await pool().query(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'`)).rows[0].count),
      (n) => n === 0,
      30_000,
    );
    // The killed worker's open batch rolled back; the committed ones stay.
    const after = (await rotation(started.body.id)).body;
    expect(after.progress.done).toBe(before.progress.done);

    // A new worker takes it up at start, from the cursor.
    const second = new WorkerProcess(workerEnv);
    try {
      const done = await finished(started.body.id);
      expect(done.status).toBe('completed');
      expect(done.runs).toBe(2);
      expect(done.progress.done).toBe(total);
      expect(done.moved).toEqual({ dataKeys: total - 2, webhookSecrets: 2 });
      expect(done.remaining).toEqual({ dataKeys: 0, webhookSecrets: 0 });
      const resumed = second.output.split('\n').find((line) => line.includes('key rotation resumed'));
      expect(resumed).toBeDefined();
      expect(JSON.parse(resumed!)).toMatchObject({ rotationId: started.body.id, done: before.progress.done, phase: 'data-keys' });
    } finally {
      await second.kill('SIGTERM');
      logs.push(first.output, second.output);
    }

    // Only m2 now: every data key unwraps (linkages read back), the webhook secret opens to the same value.
    await restart(keysEnv(bi2, m2));
    const found = await t!.http
      .get('/v1/linkages')
      .query({ branchCode: '001', accountType: 'ordinary', accountNumber: accounts.get(numbers[7]) })
      .set(bank.auth)
      .expect(200);
    const linkage = await t!.http.get(`/v1/linkages/${found.body.items[0].id}`).set(bank.auth).expect(200);
    expect(linkage.body.subject.myNumberMasked).toBe(`********${numbers[7].slice(-4)}`);
    const onlyM2: KeyMaterial = (await import('../../src/crypto/key-material.js')).loadKeyMaterial(t!.config, () => undefined);
    const { rows } = await pool().query(
      `SELECT webhook_secret_master_key_id AS "masterKeyId", webhook_secret_ciphertext AS ciphertext,
              webhook_previous_secret_master_key_id AS "previousMasterKeyId", webhook_previous_secret_ciphertext AS "previousCiphertext"
         FROM institutions WHERE id = $1`,
      [bank.id],
    );
    expect(rows[0]).toMatchObject({ masterKeyId: 'm2', previousMasterKeyId: 'm2' });
    const m2Sealer = new MasterKeySealer(onlyM2);
    expect(formatWebhookSecret(m2Sealer.open(rows[0], webhookSecretAad(bank.id)))).toBe(webhookSecret);
    const previous = { masterKeyId: rows[0].previousMasterKeyId, ciphertext: rows[0].previousCiphertext };
    expect(formatWebhookSecret(m2Sealer.open(previous, webhookSecretAad(bank.id)))).toBe(previousWebhookSecret);
  }, 120_000);

  it('no My Number in clear in the rotation rows, the audit trail, the job data or the logs', async () => {
    // One more rotation, left queued (no worker runs now), so that its job sits in Redis.
    const queued = await t!.http.post('/v1/key-rotations').set(t!.admin).send({ kind: 'blind-index' }).expect(202);
    const { rows } = await pool().query(
      `SELECT k::text AS line FROM key_rotations k UNION ALL SELECT a::text FROM audit_events a WHERE action LIKE 'key-rotation.%'`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const redis = new Redis(t!.config.REDIS_URL);
    try {
      const jobKeys = await redis.keys(`${queuePrefix(t!.config, QueueName.KeyRotations)}:key-rotations:*`);
      const jobs = await Promise.all(jobKeys.map(async (k) => ((await redis.type(k)) === 'hash' ? JSON.stringify(await redis.hgetall(k)) : '')));
      const job = jobs.find((j) => j.includes(queued.body.id));
      expect(job).toBeDefined();
      expect(JSON.parse(JSON.parse(job!).data)).toEqual({ rotationId: queued.body.id });
      const text = [...rows.map((r) => r.line), ...jobs, ...logs, t!.logs.text].join('\n');
      expect(text).toContain('key rotation completed');
      for (const myNumber of sent) expect(text).not.toContain(myNumber);
    } finally {
      redis.disconnect();
    }
  });
});

describe('key rotation run in-process (the CLI runner): a number held twice at one institution', () => {
  let t: TestApp;

  afterAll(async () => {
    await t?.close();
  });

  it('leaves the record that cannot move under its old version, says so, and the number stays findable', async () => {
    const key = () => randomBytes(32).toString('base64');
    t = await startTestApp({
      env: { BLIND_INDEX_KEYS: `1:${key()},2:${key()}`, BLIND_INDEX_ACTIVE_VERSION: '1', KEY_ROTATION_BATCH_SIZE: '2' },
    });
    const bank = await t.createInstitution('0007');
    const myNumber = validMyNumber(82_001);
    const others = [82_002, 82_003, 82_004].map(validMyNumber);
    for (const [i, n] of [myNumber, ...others].entries()) {
      await t.http
        .post('/v1/linkages')
        .set(bank.auth)
        .send(linkageBody(n, { accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: String(4_200_000 + i) }] }))
        .expect(201);
    }
    // What a process with version 2 active could have created beside one with version 1
    // active, had the operator skipped the first restart: a second record of the number.
    const keys = loadKeyMaterial(t.config, () => undefined);
    const digest = new BlindIndex({ ...keys, activeBlindIndexVersion: 2 }).compute(myNumber).digest;
    await t.db.pool.query(
      `INSERT INTO subjects (id, institution_id, blind_index_version, blind_index, my_number_ciphertext, data_key_id, name_kana, birth_date)
       SELECT $1, institution_id, 2, $2, my_number_ciphertext, data_key_id, name_kana, birth_date
         FROM subjects WHERE blind_index_version = 1 ORDER BY created_at LIMIT 1`,
      [globalThis.crypto.randomUUID(), digest],
    );

    const id = globalThis.crypto.randomUUID();
    await t.db.pool.query(`INSERT INTO key_rotations (id, kind, target, source) VALUES ($1, 'blind-index', '2', 'cli')`, [id]);
    const runner = standaloneRotationRunner(t.app.get(DataSource), t.config, { ...keys, activeBlindIndexVersion: 2 });
    expect(await runner.run(id)).toBe('completed');
    expect(await runner.run(id)).toBe('already-finished');
    const { rows } = await t.db.pool.query('SELECT * FROM key_rotations WHERE id = $1', [id]);
    expect(rows[0]).toMatchObject({ status: 'completed', runs: 1, moved: { subjects: 3 }, remaining: { subjects: 1, inquiries: 0 } });
    const versions = (await t.db.pool.query('SELECT blind_index_version AS v, count(*)::int AS n FROM subjects GROUP BY 1 ORDER BY 1')).rows;
    expect(versions).toEqual([
      { v: 1, n: 1 },
      { v: 2, n: 4 },
    ]);
    // The number is still located: its linkages hang on the record left under version 1,
    // which look-ups still consult (and which start-up refuses to lose).
    const locations = new HostedLocations(new BlindIndex({ ...keys, activeBlindIndexVersion: 2 }), t.db.pool);
    expect(await locations.locate([{ ref: 'q', myNumber, ...LINKAGE_SUBJECT }])).toHaveLength(1);
    for (const n of others) expect(await locations.locate([{ ref: 'q', myNumber: n, ...LINKAGE_SUBJECT }])).toHaveLength(1);
  });
});

function randomUUIDLike(): string {
  return globalThis.crypto.randomUUID();
}
