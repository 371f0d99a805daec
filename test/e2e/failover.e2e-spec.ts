import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { loadConfig } from '../../src/config/app-config.js';
import { migrate } from '../../src/database/migrate.js';
import { READ_DATABASE, ReadDatabase } from '../../src/database/read-database.js';
import { finalInquiry, inheritanceBody } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { HaproxyAddress, PostgresCluster } from './support/pg-cluster.js';
import { eventually, linkageBody, startTestApp } from './support/test-app.js';
import type { TestApp, TestInstitution } from './support/test-app.js';
import type { TestDatabase } from './support/test-database.js';

/** The ports this spec's Postgres servers and HAProxy may listen on. */
const PORTS = { from: 22000, to: 22999 };
const DATABASE = 'kouza_failover';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A cluster of its own: a primary and a synchronous hot standby (initdb + pg_basebackup,
 * synchronous_standby_names), behind HAProxy, the virtual addresses the service and its
 * worker connect to (write: the primary, read: the replica). The failover is the one a
 * deployment runs: the primary is killed (SIGKILL to the postmaster and every backend),
 * the standby promoted, the write address switched to it over HAProxy's runtime API.
 */
describe('Postgres failover: a synchronous standby behind a virtual address', () => {
  let cluster: PostgresCluster;
  let proxy: HaproxyAddress;
  let t: TestApp;
  let requester: TestInstitution;
  let holder: TestInstitution;
  let seed = 500_000;

  const attach = (n: number) =>
    t.http
      .post('/v1/linkages')
      .set(holder.auth)
      .send(linkageBody(validMyNumber(n), { accounts: [{ branchCode: '300', accountType: 'ordinary', accountNumber: String(3_000_000 + n) }] }));
  const inquire = (n: number) => t.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(validMyNumber(n), { targetInstitutions: ['0002'] }));

  /** Scans of each table as a server counts them (a hot standby counts the queries it runs). */
  const scans = async (node: PostgresCluster['primary'], tables: string[]) => {
    const rows = await node.query<{ relname: string; scans: string }>(
      `SELECT relname, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text AS scans FROM pg_stat_user_tables WHERE relname = ANY($1)`,
      [tables],
      DATABASE,
    );
    return Object.fromEntries(rows.map((r) => [r.relname, Number(r.scans)]));
  };

  beforeAll(async () => {
    cluster = await PostgresCluster.create({ ports: PORTS });
    proxy = await HaproxyAddress.start({ ports: PORTS, primaryPort: cluster.primary.port, replicaPort: cluster.standby.port });
    const url = `postgres://kouza_app@127.0.0.1:${proxy.writePort}/${DATABASE}`;
    const ownerUrl = `postgres://postgres@127.0.0.1:${proxy.writePort}/${DATABASE}`;
    // Migrated exactly as `npm run migrate` does, through the write address.
    await migrate(loadConfig({ DATABASE_URL: url, MIGRATION_DATABASE_URL: ownerUrl }));
    const pool = new pg.Pool({ connectionString: ownerUrl, max: 2 });
    pool.on('error', () => undefined);
    const database: TestDatabase = {
      url,
      ownerUrl,
      name: DATABASE,
      pool,
      query: async (sql, params) => (await pool.query(sql, params)).rows,
      drop: () => pool.end(),
    };
    t = await startTestApp({
      database,
      env: {
        DATABASE_READ_URL: `postgres://kouza_app@127.0.0.1:${proxy.readPort}/${DATABASE}`,
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
        DATABASE_POOL_SIZE: '8',
        PEER_BATCH_WAIT_MS: '20',
        RECONCILE_INTERVAL_MS: '500',
        AUDIT_SEAL_INTERVAL_MS: '1000',
      },
    });
    requester = await t.createInstitution('0001');
    holder = await t.createInstitution('0002');
    await t.startWorker();
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await t?.db.drop().catch(() => undefined);
    await proxy?.stop();
    await cluster?.destroy();
  });

  it('status views and lists are read from the replica; linkage checks never are', async () => {
    const n = ++seed;
    const attached = await attach(n).expect(201);
    const accepted = await inquire(n).expect(202);
    const done = await finalInquiry(t, requester, accepted.body.id, 30_000);
    expect(done.status).toBe('completed');

    const reads = t.app.get<ReadDatabase>(READ_DATABASE);
    const served = { ...reads.served };
    const standbyBefore = await scans(cluster.standby, ['inquiries', 'linkages']);
    const primaryBefore = await scans(cluster.primary, ['linkages']);
    const ROUNDS = 10;
    for (let i = 0; i < ROUNDS; i++) {
      const view = await t.http.get(`/v1/inquiries/${accepted.body.id}`).set(requester.auth).expect(200);
      expect(view.body.results).toEqual([expect.objectContaining({ institutionCode: '0002', status: 'found' })]);
      await t.http.get('/v1/inquiries').set(requester.auth).expect(200);
      // The linkage reads: by id, and the check by account that a teller makes before attaching.
      await t.http.get(`/v1/linkages/${attached.body.linkages[0].id}`).set(holder.auth).expect(200);
      await t.http.get('/v1/linkages').query({ branchCode: '300', accountType: 'ordinary', accountNumber: String(3_000_000 + n) }).set(holder.auth).expect(200);
    }
    expect(reads.served.replica - served.replica).toBe(2 * ROUNDS);
    expect(reads.served.primary - served.primary).toBe(0);

    // The standby itself ran them (its statistics are flushed within a second or so)...
    const standbyAfter = await eventually(
      () => scans(cluster.standby, ['inquiries', 'linkages']),
      (s) => s.inquiries - standbyBefore.inquiries >= 2 * ROUNDS,
      10_000,
    );
    // ...but never a linkage read, which the primary served.
    await eventually(() => scans(cluster.primary, ['linkages']), (s) => s.linkages - primaryBefore.linkages >= ROUNDS, 10_000);
    expect((await scans(cluster.standby, ['linkages'])).linkages ?? 0).toBe(standbyAfter.linkages ?? 0);
    expect(standbyAfter.linkages ?? 0).toBe(standbyBefore.linkages ?? 0);

    // Who is connected to the standby: the API's read pool only.
    const names = (await cluster.standby.query<{ name: string }>(
      `SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = $1`,
      [DATABASE],
    )).map((r) => r.name);
    expect(names).toEqual(['kouza-hub-api:read']);
  });

  it('an inquiry the replica does not have yet is read again on the primary: accepted, then found at once', async () => {
    // The standby keeps receiving (and flushing) WAL, so commits still return, but stops
    // replaying it: a replica behind, deterministically.
    await cluster.standby.query('SELECT pg_wal_replay_pause()');
    try {
      const reads = t.app.get<ReadDatabase>(READ_DATABASE);
      const before = { ...reads.served };
      for (let i = 0; i < 3; i++) {
        const accepted = await inquire(++seed).expect(202);
        const view = await t.http.get(`/v1/inquiries/${accepted.body.id}`).set(requester.auth).expect(200);
        expect(view.body.id).toBe(accepted.body.id);
        const [behind] = await cluster.standby.query(`SELECT count(*)::int AS n FROM inquiries WHERE id = $1`, [accepted.body.id], DATABASE);
        expect(behind.n).toBe(0);
      }
      expect(reads.served.primary - before.primary).toBe(3);
    } finally {
      await cluster.standby.query('SELECT pg_wal_replay_resume()');
    }
  });

  it('the replica lost: health is degraded (200), the status views are read from the primary', async () => {
    const accepted = await inquire(++seed).expect(202);
    await finalInquiry(t, requester, accepted.body.id, 30_000);
    await proxy.setReplica(false);
    try {
      const health = await t.http.get('/health').expect(200);
      expect(health.body.status).toBe('degraded');
      expect(health.body.info.databaseReplica.status).toBe('degraded');
      expect(health.body.info.database.status).toBe('up');
      const view = await t.http.get(`/v1/inquiries/${accepted.body.id}`).set(requester.auth).expect(200);
      expect(view.body.status).toBe('completed');
      await t.http.get('/v1/inquiries').set(requester.auth).expect(200);
    } finally {
      await proxy.setReplica(true);
    }
    const back = await eventually(() => t.http.get('/health'), (r) => r.status === 200 && r.body.status === 'ok', 15_000);
    expect(back.body.info.databaseReplica.status).toBe('up');
  });

  it('the primary killed under load: no acknowledged write lost, 503 (never 500) without a primary, recovered by itself', async () => {
    interface Outcome {
      kind: 'attachment' | 'inquiry';
      status: number;
      at: number;
      id?: string;
      code?: string;
      retryAfter?: string;
      requestId?: string;
    }
    const outcomes: Outcome[] = [];
    let stop = false;
    const record = (kind: Outcome['kind'], res: { status: number; body: any; headers: Record<string, string> }) =>
      outcomes.push({ kind, status: res.status, at: Date.now(), id: res.body?.id, code: res.body?.code, retryAfter: res.headers['retry-after'], requestId: res.body?.requestId });
    // A teller's steady stream: attach, then ask, again and again, three at a time.
    const client = async () => {
      while (!stop) {
        const n = ++seed;
        record('attachment', await attach(n));
        record('inquiry', await inquire(n));
        await sleep(20);
      }
    };
    const acknowledged = (kind: Outcome['kind']) => outcomes.filter((o) => o.kind === kind && o.status === (kind === 'attachment' ? 201 : 202));
    const clients = [client(), client(), client()];
    try {
      await eventually(async () => acknowledged('attachment').length, (count) => count >= 20, 30_000);

      const killedAt = Date.now();
      await cluster.primary.kill();
      // Nobody has acted yet: the address leads nowhere (as long as a failover manager takes to decide).
      await sleep(1_500);
      // The address is switched first: for a moment it leads to a standby still in
      // recovery, which refuses writes (25006 read_only_sql_transaction)...
      await proxy.switchPrimary(cluster.standby.port);
      const switchedAt = Date.now();
      await sleep(1_500);
      // ...until it is promoted: from then on there is a primary again.
      const promotingAt = Date.now();
      await cluster.promoteStandby();
      const primaryAt = Date.now();
      const recovered = await eventually(
        async () => outcomes.find((o) => o.kind === 'attachment' && o.status === 201 && o.at > primaryAt),
        (o) => o !== undefined,
        30_000,
      );
      const recoveredAt = recovered!.at;
      // Keep the stream going after the recovery: it must stay healthy by itself.
      await sleep(3_000);
      stop = true;
      await Promise.all(clients);

      const statuses: Record<string, number> = {};
      for (const o of outcomes) statuses[`${o.kind} ${o.status}`] = (statuses[`${o.kind} ${o.status}`] ?? 0) + 1;
      const unavailable = outcomes.filter((o) => o.status === 503);
      // Should an answer be anything else, what the service logged for it says why.
      const unexpected = outcomes.filter((o) => o.status !== 201 && o.status !== 202 && o.status !== 503);
      if (unexpected.length > 0) {
        const near = (l: string) => {
          const at = Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? '');
          return unexpected.some((o) => at >= o.at - 3_000 && at <= o.at + 500);
        };
        console.log(JSON.stringify(unexpected), t.logs.lines.filter((l) => near(l) && !/"level":30/.test(l)).join(''));
      }
      // Every answer was a success or a 503 with Retry-After: never a 500, nor anything else.
      expect(Object.keys(statuses).sort()).toEqual(expect.arrayContaining(['attachment 201', 'inquiry 202']));
      for (const o of outcomes) expect([`${o.kind} ${o.status}`]).toEqual([o.kind === 'attachment' ? (o.status === 201 ? 'attachment 201' : 'attachment 503') : o.status === 202 ? 'inquiry 202' : 'inquiry 503']);
      for (const o of unavailable) {
        expect(o.code).toBe('DATABASE_UNAVAILABLE');
        expect(o.retryAfter).toBeDefined();
      }
      expect(unavailable.length).toBeGreaterThan(0);
      // 503 only while there was no primary (and the moment after, while the pools reconnect).
      expect(unavailable.every((o) => o.at >= killedAt && o.at <= recoveredAt + 1_000)).toBe(true);

      // Some were answered while the address led to the standby before its promotion (the
      // database refused the write: read-only transaction), and they too were 503.
      const readOnlyRefusals = unavailable.filter((o) => o.at > switchedAt + 200 && o.at < promotingAt).length;
      expect(readOnlyRefusals).toBeGreaterThan(0);

      // Every acknowledged write is on the new primary (the promoted standby).
      const attachmentIds = acknowledged('attachment').map((o) => o.id!);
      const inquiryIds = acknowledged('inquiry').map((o) => o.id!);
      const [present] = await cluster.standby.query<{ attachments: number; inquiries: number }>(
        `SELECT (SELECT count(*) FROM attachments WHERE id = ANY($1::uuid[]))::int AS attachments,
                (SELECT count(*) FROM inquiries WHERE id = ANY($2::uuid[]))::int AS inquiries`,
        [attachmentIds, inquiryIds],
        DATABASE,
      );
      expect(present).toEqual({ attachments: attachmentIds.length, inquiries: inquiryIds.length });

      // The worker (its reconciler re-queues what the outage cut) finishes every accepted inquiry.
      const finished = await eventually(
        () =>
          cluster.standby.query<{ status: string; n: number }>(
            `SELECT status, count(*)::int AS n FROM inquiries WHERE id = ANY($1::uuid[]) GROUP BY status`,
            [inquiryIds],
            DATABASE,
          ),
        (rows) => rows.every((r) => r.status === 'completed'),
        90_000,
      );
      const finishedAt = Date.now();
      expect(finished).toEqual([{ status: 'completed', n: inquiryIds.length }]);

      const firstUnavailable = Math.min(...unavailable.map((o) => o.at));
      const lastUnavailable = Math.max(...unavailable.map((o) => o.at));
      const seconds = (ms: number) => (ms / 1000).toFixed(1);
      console.log(
        [
          'Postgres failover (SIGKILL of the primary, standby promoted, HAProxy switched):',
          `  writes acknowledged: ${attachmentIds.length} attachments (201) + ${inquiryIds.length} inquiries (202); lost: 0`,
          `  answers: ${JSON.stringify(statuses)}`,
          `  seconds without a primary (kill to the promoted standby behind the address): ${seconds(primaryAt - killedAt)}`,
          `  seconds to recover (promoted to the first 201): ${seconds(recoveredAt - primaryAt)}`,
          `  503 window (first to last 503): ${seconds(lastUnavailable - firstUnavailable)} s, ${unavailable.length} answers (${readOnlyRefusals} from the standby before its promotion)`,
          `  every accepted inquiry completed ${seconds(finishedAt - recoveredAt)} s after the recovery`,
        ].join('\n'),
      );
    } finally {
      stop = true;
      await Promise.allSettled(clients);
    }
  }, 240_000);
});
