import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { chainHash } from '../../src/audit/audit-hash.js';
import { AuditRepository } from '../../src/audit/audit.repository.js';
import { validMyNumber } from './support/my-numbers.js';
import { eventually, linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import type { TestDatabase } from './support/test-database.js';

const run = promisify(execFile);

/** The claims of each line of a checkpoint log (compact JWS), oldest first. */
function checkpointLines(file: string): Array<{ line: string; seq: string; head: string }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ line, ...JSON.parse(Buffer.from(line.split('.')[1], 'base64url').toString('utf8')) }));
}

const count = async (db: TestDatabase, table: string) => Number((await db.query(`SELECT count(*) AS n FROM ${table}`))[0].n);

/** Writes linkages, then waits until the worker has sealed every audit row and checkpointed the head. */
async function writeAndSeal(t: TestApp, bank: TestInstitution, n: number, seed: number): Promise<number> {
  for (let i = 0; i < n; i++) {
    await t.http
      .post('/v1/linkages')
      .set(bank.auth)
      .send(linkageBody(validMyNumber(seed + i), { accounts: [{ branchCode: '200', accountType: 'ordinary', accountNumber: String(3_000_000 + seed + i) }] }))
      .expect(201);
  }
  // Counted again each time: the worker writes audit rows of its own too (e.g. peer.refresh-keys).
  const state = async () => ({
    events: await count(t.db, 'audit_events'),
    sealed: await count(t.db, 'audit_chain'),
    checkpoint: checkpointLines(t.config.AUDIT_CHECKPOINT_FILE).at(-1)?.seq,
  });
  const { sealed } = await eventually(state, (s) => s.sealed === s.events && s.checkpoint === String(s.sealed));
  return sealed;
}

/**
 * The insider: the database's owner (a superuser here), who can switch the append-only
 * triggers off (session_replication_role) and change anything in the database.
 */
async function asInsider(db: TestDatabase, work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** Deletes the last `n` audit rows and their links: the chain that is left is consistent. */
const cutLast = (db: TestDatabase, n: number) =>
  asInsider(db, async (client) => {
    const { rows } = await client.query('SELECT seq, event_id FROM audit_chain ORDER BY seq DESC LIMIT $1', [n]);
    await client.query('DELETE FROM audit_chain WHERE seq = ANY ($1)', [rows.map((r) => r.seq)]);
    await client.query('DELETE FROM audit_events WHERE id = ANY ($1)', [rows.map((r) => r.event_id)]);
  });

const verification = async (t: TestApp) => (await t.http.get('/v1/audit/verification').set(t.admin).expect(200)).body;

describe("the service's database role", () => {
  let t: TestApp;
  let bank: TestInstitution;

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
    await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(validMyNumber(71_000))).expect(201);
  });
  afterAll(() => t.close());

  it('is kouza_app, for the API and the worker', async () => {
    await t.startWorker();
    await eventually(() => count(t.db, 'audit_chain'), (n) => n > 0);
    const rows = await t.db.query(
      `SELECT DISTINCT application_name, usename FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'kouza-hub-%' ORDER BY 1`,
      [t.db.name],
    );
    expect(rows.map((r) => r.application_name)).toEqual(expect.arrayContaining(['kouza-hub-api', 'kouza-hub-worker']));
    expect(new Set(rows.map((r) => r.usename))).toEqual(new Set(['kouza_app']));
  });

  it('cannot UPDATE, DELETE, TRUNCATE, ALTER or switch off the guards of the audit tables (refused by privilege, not by the trigger)', async () => {
    const app = new pg.Client({ connectionString: t.db.url });
    await app.connect();
    try {
      const [{ current_user: role }] = (await app.query('SELECT current_user')).rows;
      expect(role).toBe('kouza_app');
      const refused = [
        'UPDATE audit_events SET operator_id = $$x$$',
        'DELETE FROM audit_events',
        'TRUNCATE audit_events',
        'UPDATE audit_chain SET hash = hash',
        'DELETE FROM audit_chain',
        'TRUNCATE audit_chain',
        'ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only',
        'ALTER TABLE audit_chain DISABLE TRIGGER ALL',
        'DROP TABLE audit_events',
        'SET session_replication_role = replica',
        'DELETE FROM schema_migrations',
      ];
      for (const sql of refused) {
        const error = await app.query(sql).then(
          () => undefined,
          (e: { code?: string; message: string }) => e,
        );
        expect({ sql, code: error?.code, byPrivilege: /permission denied|must be owner/.test(error?.message ?? '') }).toEqual({
          sql,
          code: '42501',
          byPrivilege: true,
        });
      }
      // What the service does do: append, and read.
      const before = await count(t.db, 'audit_events');
      await app.query(`INSERT INTO audit_events (actor_type, action) VALUES ('system', 'audit.verify')`);
      expect(await count(t.db, 'audit_events')).toBe(before + 1);
    } finally {
      await app.end();
    }
  });
});

/** Runs the built API with `env` until it exits (or 30 s pass); its exit code and output. */
function runApi(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const main = new URL('../../dist/src/main.js', import.meta.url).pathname;
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('a service role that can rewrite the trail', () => {
  it('is refused in production (connecting as the owner)', async () => {
    const t = await startTestApp();
    try {
      const { code, output } = await runApi({ ...t.env, NODE_ENV: 'production', DATABASE_URL: t.db.ownerUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
      expect(code).not.toBe(0);
      expect(output).toMatch(/\(postgres\) can change, delete or alter the audit trail/);
    } finally {
      await t.close();
    }
  }, 60_000);
});

describe('audit checkpoints: the last rows deleted by the owner', () => {
  let t: TestApp;
  let bank: TestInstitution;

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
    await t.startWorker();
  });
  afterAll(() => t.close());

  it('the verifier finds the chain shorter than its signed checkpoint, and the worker does not vouch for the cut chain', async () => {
    const total = await writeAndSeal(t, bank, 5, 72_000);
    expect((await verification(t)).ok).toBe(true);

    await cutLast(t.db, 2);
    const report = await verification(t);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ seq: String(total), kind: 'checkpoint-beyond-chain', source: 'file' }]);

    // New rows are sealed into the cut chain (up to the checkpoint's seq again), but no checkpoint is signed for it.
    for (const seed of [72_100, 72_101]) {
      await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(validMyNumber(seed), { accounts: [{ branchCode: '201', accountType: 'ordinary', accountNumber: String(3_100_000 + seed) }] })).expect(201);
    }
    await eventually(() => count(t.db, 'audit_chain'), (n) => n === total);
    await new Promise((r) => setTimeout(r, 500));
    expect(checkpointLines(t.config.AUDIT_CHECKPOINT_FILE).at(-1)?.seq).toBe(String(total));
    expect((await verification(t)).problems).toEqual([{ seq: String(total), kind: 'checkpoint-mismatch', source: 'file' }]);
  });

  it('`npm run audit:verify` finds it too', async () => {
    const cli = new URL('../../dist/src/cli/audit-verify.js', import.meta.url);
    const outcome = await run(process.execPath, [cli.pathname], { env: { ...process.env, ...t.env } }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(outcome.code).toBe(2);
    expect(JSON.parse(outcome.stdout).problems.map((p: { kind: string }) => p.kind)).toEqual(['checkpoint-mismatch']);
  });
});

describe('keyed links: a row rewritten and the chain recomputed with plain SHA-256', () => {
  let t: TestApp;
  let bank: TestInstitution;

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
    await t.startWorker();
  });
  afterAll(() => t.close());

  /** Rewrites one row and recomputes every link from it on, as today's (unkeyed) chain would verify. */
  async function rewriteAndRelink(seq: number, linkVersion: 1 | 2): Promise<void> {
    const repository = new AuditRepository({ query: async (sql: string, params?: unknown[]) => (await t.db.pool.query(sql, params)).rows } as unknown as DataSource);
    await asInsider(t.db, async (client) => {
      const [target] = (await client.query('SELECT event_id FROM audit_chain WHERE seq = $1', [seq])).rows;
      await client.query(`UPDATE audit_events SET operator_id = 'SOMEONE-ELSE' WHERE id = $1`, [target.event_id]);
    });
    const links = await repository.chainPage('0', 10_000);
    await asInsider(t.db, async (client) => {
      let prev = links[seq - 2].hash;
      for (const link of links.slice(seq - 1)) {
        const hash = chainHash(prev, link.event!);
        await client.query('UPDATE audit_chain SET prev_hash = $1, hash = $2, link_version = $3 WHERE seq = $4', [prev, hash, linkVersion, link.seq]);
        prev = hash;
      }
    });
  }

  it('is found by the keyed hash alone (no checkpoint left), whichever link version the rewrite claims', async () => {
    const total = await writeAndSeal(t, bank, 4, 73_000);
    // The insider also removed the checkpoint log: only the HMAC can tell.
    rmSync(t.config.AUDIT_CHECKPOINT_FILE, { force: true });

    await rewriteAndRelink(2, 2);
    const modified = await verification(t);
    expect(modified.ok).toBe(false);
    expect(modified.problems).toEqual(
      Array.from({ length: total - 1 }, (_, i) => ({ seq: String(i + 2), eventId: expect.any(String), kind: 'event-modified' })),
    );

    // Claiming the links predate the key (plain SHA-256 links are version 1): they come after keyed ones.
    await rewriteAndRelink(2, 1);
    const downgraded = await verification(t);
    expect(downgraded.ok).toBe(false);
    expect(downgraded.problems).toEqual(
      Array.from({ length: total - 1 }, (_, i) => ({ seq: String(i + 2), eventId: expect.any(String), kind: 'link-downgraded' })),
    );
  });
});

describe('witnesses: the checkpoint held by a peer node', () => {
  let a: TestApp;
  let b: TestApp;
  let bank: TestInstitution;
  let nodeB: { nodeId: string };

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestApp(), startTestApp()]);
    await b.app.listen({ port: 0, host: '127.0.0.1' });
    const bUrl = `http://127.0.0.1:${(b.app.getHttpServer().address() as AddressInfo).port}`;
    const nodeA = (await a.http.get('/v1/node').expect(200)).body;
    nodeB = (await b.http.get('/v1/node').expect(200)).body;
    const registration = (node: typeof nodeA, endpointUrl: string, code: string) => ({
      nodeId: node.nodeId,
      endpointUrl,
      signingKey: node.signingKey,
      encryptionKey: node.encryptionKey,
      institutions: [{ code, name: `Bank ${code}` }],
    });
    await a.http.post('/v1/peers').set(a.admin).send(registration(nodeB, bUrl, '0009')).expect(201);
    // B never calls A: it only needs A's keys.
    await b.http.post('/v1/peers').set(b.admin).send(registration(nodeA, 'http://127.0.0.1:9', '0005')).expect(201);
    bank = await a.createInstitution('0005');
    await a.startWorker();
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('keep the newest checkpoint of each node, which finds a cut chain when the local log was cut too', async () => {
    const total = await writeAndSeal(a, bank, 5, 74_000);
    const nodeIdA = (await a.http.get('/v1/node').expect(200)).body.nodeId;
    await eventually(
      async () => (await b.db.query('SELECT seq::text AS seq FROM audit_witness_checkpoints WHERE node_id = $1', [nodeIdA]))[0]?.seq,
      (seq) => seq === String(total),
    );
    const intact = await verification(a);
    expect(intact).toMatchObject({
      ok: true,
      checkpointSources: [
        { source: 'file', status: 'checked' },
        { source: `witness:${nodeB.nodeId}`, status: 'checked' },
      ],
    });

    // The insider cuts the chain and the local log back to its first checkpoint (which the cut chain still agrees with).
    await cutLast(a.db, 2);
    const older = checkpointLines(a.config.AUDIT_CHECKPOINT_FILE).filter((c) => Number(c.seq) <= total - 2);
    expect(older.length).toBeGreaterThan(0);
    writeFileSync(a.config.AUDIT_CHECKPOINT_FILE, `${older.map((c) => c.line).join('\n')}\n`);
    const report = await verification(a);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ seq: String(total), kind: 'checkpoint-beyond-chain', source: `witness:${nodeB.nodeId}` }]);

    // And with the log removed altogether.
    rmSync(a.config.AUDIT_CHECKPOINT_FILE, { force: true });
    expect((await verification(a)).problems).toEqual([{ seq: String(total), kind: 'checkpoint-beyond-chain', source: `witness:${nodeB.nodeId}` }]);
  });
});
