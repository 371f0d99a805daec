import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, TestDatabase } from './support/test-database.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { eventually, linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { validMyNumber } from './support/my-numbers.js';

/**
 * Postgres and Redis "go down" behind loopback proxies that the test cuts and
 * restores; the service runs unchanged, with its normal configuration.
 */
describe('when a dependency goes down', () => {
  let db: TestDatabase;
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let t: TestApp;
  let bank: TestInstitution;
  let seed = 70_000;
  let account = 3_000_000;
  const attach = () =>
    t.http
      .post('/v1/linkages')
      .set(bank.auth)
      .send(linkageBody(validMyNumber(++seed), { accounts: [{ branchCode: '300', accountType: 'ordinary', accountNumber: String(++account) }] }));
  const acknowledged: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pgProxy = new TcpProxy('127.0.0.1', 5432);
    redisProxy = new TcpProxy('127.0.0.1', 6379);
    const pgPort = await pgProxy.start();
    const redisPort = await redisProxy.start();
    t = await startTestApp({
      database: db,
      env: {
        DATABASE_URL: `postgres://kouza_app@127.0.0.1:${pgPort}/${db.name}`,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
      },
    });
    bank = await t.createInstitution('0005');
  });
  afterAll(async () => {
    await t.close();
    await pgProxy.stop();
    await redisProxy.stop();
    await db.drop();
  });

  const inDatabase = async (attachmentIds: string[]) =>
    Number((await db.pool.query('SELECT count(*) FROM attachments WHERE id = ANY($1)', [attachmentIds])).rows[0].count);

  it('Postgres down: requests answer 503 problem+json at once, health says so, nothing half-written', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await attach().expect(201);
      acknowledged.push(res.body.id);
    }
    const before = Number((await db.pool.query('SELECT count(*) FROM linkages')).rows[0].count);

    pgProxy.cut();
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 10 }, () => attach()));
    const elapsed = Date.now() - started;
    for (const res of results) {
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.body.code).toBe('DATABASE_UNAVAILABLE');
    }
    // Bounded by the connect timeout (1 s here), not by a TCP timeout.
    expect(elapsed).toBeLessThan(5000);
    const reads = await t.http.get('/v1/linkages').query({ branchCode: '300', accountType: 'ordinary', accountNumber: String(account) }).set(bank.auth);
    expect(reads.status).toBe(503);

    const health = await t.http.get('/health').expect(503);
    expect(health.body.error.database.status).toBe('down');

    expect(Number((await db.pool.query('SELECT count(*) FROM linkages')).rows[0].count)).toBe(before);
  });

  it('recovers by itself when Postgres returns, and no acknowledged write is lost', async () => {
    pgProxy.restore();
    const res = await eventually(() => attach(), (r) => r.status === 201, 15_000);
    acknowledged.push(res.body.id);
    await t.http.get('/health').expect(200);
    expect(await inDatabase(acknowledged)).toBe(acknowledged.length);
  });

  it('a cut in the middle of a burst: every 201 is committed, every other answer is 503', async () => {
    const burst = Array.from({ length: 30 }, () => attach());
    setTimeout(() => pgProxy.cut(), 15);
    const results = await Promise.all(burst);
    pgProxy.restore();
    const ok = results.filter((r) => r.status === 201).map((r) => r.body.id);
    expect(results.every((r) => r.status === 201 || r.status === 503)).toBe(true);
    expect(await inDatabase(ok)).toBe(ok.length);
    acknowledged.push(...ok);
    await eventually(() => attach(), (r) => r.status === 201, 15_000);
  });

  it('Redis down does not stop attachments; health reports it and recovers', async () => {
    redisProxy.cut();
    const res = await attach().expect(201);
    acknowledged.push(res.body.id);
    const health = await t.http.get('/health').expect(503);
    expect(health.body.error.redis.status).toBe('down');
    expect(health.body.info.database.status).toBe('up');
    redisProxy.restore();
    await eventually(() => t.http.get('/health'), (r) => r.status === 200, 15_000);
    expect(await inDatabase(acknowledged)).toBe(acknowledged.length);
  });
});
