import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import iconv from 'iconv-lite';
import { CSV_HEADER } from '../../src/register/register-row.js';
import { writeRegisterCsv } from '../bench/support/register-file.js';
import { eventually, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';
import { WorkerProcess } from './support/worker-process.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = `${REPO_ROOT}dist/src/cli/register-import.js`;
const FINAL = ['completed', 'failed', 'refused'];

const csv = (...rows: string[]) => `${CSV_HEADER}\n${rows.join('\n')}\n`;
const row = (n: number, overrides: Partial<Record<'customer' | 'branch' | 'type' | 'kana' | 'birth' | 'postal' | 'address' | 'status', string>> = {}) =>
  [
    overrides.customer ?? `C${n}`,
    overrides.branch ?? '001',
    overrides.type ?? 'ordinary',
    String(n).padStart(7, '0'),
    overrides.kana ?? 'ヤマダ タロウ',
    overrides.birth ?? '1980-04-01',
    overrides.postal ?? '100-0013',
    overrides.address ?? '東京都千代田区霞が関1丁目2番3号',
    overrides.status ?? 'open',
  ].join(',');

/** Uploads a file and waits for the import's outcome (the job's view). */
const uploader =
  (app: () => TestApp) =>
  async (who: TestInstitution, body: string | Buffer, mode: 'full' | 'delta' = 'delta', contentType = 'text/csv; charset=utf-8') => {
    const a = app();
    const accepted = await a.http
      .post(`/v1/register-imports?mode=${mode}`)
      .set(who.auth)
      .set('content-type', contentType)
      .send(typeof body === 'string' ? Buffer.from(body) : body)
      .expect(202);
    expect(accepted.headers.location).toBe(`/v1/register-imports/${accepted.body.id}`);
    expect(accepted.body.status).toBe('queued');
    return eventually(
      async () => (await a.http.get(`/v1/register-imports/${accepted.body.id}`).set(who.auth).expect(200)).body,
      (view) => FINAL.includes(view.status),
      30_000,
    );
  };

/** An institution's register, every column the import writes, in account order. */
const registerReader = (app: () => TestApp) => (who: TestInstitution) =>
  app().db.query(
    `SELECT branch_code, account_type, account_number, customer_number, name_kana, name_key, birth_date::text, postal_code,
            address, status, closed_at, updated_at
       FROM account_register WHERE institution_id = $1 ORDER BY branch_code, account_type, account_number`,
    [who.id],
  );

describe('account register import', () => {
  let a: TestApp;
  let bank: TestInstitution;
  let other: TestInstitution;
  let noScopes: TestInstitution;
  let dir: string;

  beforeAll(async () => {
    a = await startTestApp();
    await a.startWorker();
    bank = await a.createInstitution('0005', ['register:write', 'register:read']);
    other = await a.createInstitution('0006', ['register:write', 'register:read']);
    noScopes = await a.createInstitution('0007', ['linkages:write', 'linkages:read']);
    dir = mkdtempSync(join(tmpdir(), 'register-e2e-'));
  });

  afterAll(async () => {
    await a?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const upload = uploader(() => a);
  const registerOf = registerReader(() => a);
  const clear = (who: TestInstitution) => a.db.query('DELETE FROM account_register WHERE institution_id = $1', [who.id]);

  it('loads a good file, normalised (Zengin kana, keys, codes, postal code)', async () => {
    await clear(bank);
    const view = await upload(
      bank,
      csv(
        row(1),
        row(2, { type: '4', kana: 'ｽｽﾞｷ ﾊﾅｺ', birth: '19750102', postal: '', address: '"大阪府大阪市北区梅田1-2-3, コーポ山田 101"' }),
        row(3, { status: 'closed' }),
      ),
      'full',
    );
    expect(view).toMatchObject({
      status: 'completed',
      mode: 'full',
      format: 'csv',
      source: 'upload',
      counts: { inserted: 3, updated: 0, closed: 0, unchanged: 0, rejected: 0 },
      errors: [],
      progress: { rowsRead: 3 },
    });
    const rows = (await registerOf(bank)).sort((x, y) => x.account_number.localeCompare(y.account_number));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({
      account_type: 'ordinary',
      name_kana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
      name_key: 'ﾔﾏﾀﾞﾀﾛｳ',
      birth_date: '1980-04-01',
      postal_code: '1000013',
      address: '東京都千代田区霞が関1丁目2番3号',
      status: 'open',
      closed_at: null,
    });
    expect(rows[1]).toMatchObject({ account_type: 'savings', birth_date: '1975-01-02', postal_code: null, address: '大阪府大阪市北区梅田1-2-3, コーポ山田 101' });
    expect(rows[2].status).toBe('closed');
    expect(rows[2].closed_at).not.toBeNull();
  });

  it('reports bad rows with line number, field and reason, never their content; the rest loads', async () => {
    await clear(bank);
    const view = await upload(
      bank,
      csv(
        row(1),
        row(2, { branch: '01' }), // line 3
        row(3, { type: 'loan' }),
        row(4, { kana: 'やまだ たろう' }),
        row(5, { birth: '1980-02-30' }),
        '"multi-line quoted",001,ordinary,0000006,ヤマダ,1980-01-01,,"a\nb",open', // lines 7-8
        row(7, { status: 'open,extra' }), // line 9: ten columns
        row(8, { postal: '12-345' }),
        row(9, { birth: '2999-01-01' }),
        row(10),
      ),
    );
    expect(view.status).toBe('completed');
    expect(view.counts).toMatchObject({ inserted: 2, rejected: 8 });
    expect(view.errors).toEqual([
      { line: 3, field: 'branch_code', reason: 'must be 3 digits' },
      { line: 4, field: 'account_type', reason: expect.any(String) },
      { line: 5, field: 'name_kana', reason: expect.any(String) },
      { line: 6, field: 'birth_date', reason: expect.any(String) },
      { line: 7, field: 'customer_number', reason: expect.any(String) },
      { line: 9, reason: 'has 10 columns; expected 9' },
      { line: 10, field: 'postal_code', reason: expect.any(String) },
      { line: 11, field: 'birth_date', reason: expect.any(String) },
    ]);
    expect(JSON.stringify(view)).not.toMatch(/やまだ|loan|12-345|multi-line/);
    expect((await registerOf(bank)).map((r) => r.account_number)).toEqual(['0000001', '0000010']);
  });

  it('loads Shift_JIS (declared or detected) and NDJSON', async () => {
    await clear(bank);
    const sjis = iconv.encode(csv(row(1), row(2, { kana: 'ｻﾄｳ ｼﾞﾛｳ' })), 'cp932');
    const declared = await upload(bank, sjis, 'delta', 'text/csv; charset=Shift_JIS');
    expect(declared.counts).toMatchObject({ inserted: 2, rejected: 0 });
    expect((await registerOf(bank)).map((r) => [r.name_kana, r.address])).toEqual([
      ['ﾔﾏﾀﾞ ﾀﾛｳ', '東京都千代田区霞が関1丁目2番3号'],
      ['ｻﾄｳ ｼﾞﾛｳ', '東京都千代田区霞が関1丁目2番3号'],
    ]);
    const detected = await upload(bank, sjis, 'delta', 'text/csv');
    expect(detected).toMatchObject({ status: 'completed', encoding: 'auto', counts: { unchanged: 2, rejected: 0 } });

    const ndjson = [
      { customerNumber: 'C3', branchCode: '002', accountType: 'current', accountNumber: '0000003', nameKana: 'タナカ イチロウ', birthDate: '1960-12-31', postalCode: null, address: '愛知県名古屋市中区栄3丁目', status: 'open' },
      { customerNumber: 'C4', branchCode: '002', accountType: 'current', accountNumber: '0000004', nameKana: 'タナカ イチロウ', birthDate: '1960-12-31', address: '愛知県名古屋市中区栄3丁目', status: 'open', pin: '1234' },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n');
    const nd = await upload(bank, ndjson, 'delta', 'application/x-ndjson');
    expect(nd).toMatchObject({ status: 'completed', format: 'ndjson', counts: { inserted: 1, rejected: 1 } });
    expect(nd.errors).toEqual([{ line: 2, reason: 'has a key outside the layout' }]);
  });

  it('a duplicated account: the first occurrence wins, the others are reported', async () => {
    await clear(bank);
    const view = await upload(bank, csv(row(1), row(2), row(1, { kana: 'スズキ ハナコ' }), row(1, { customer: 'X9' })));
    expect(view.counts).toMatchObject({ inserted: 2, rejected: 2 });
    expect(view.errors).toEqual([
      { line: 4, reason: 'duplicate of line 2' },
      { line: 5, reason: 'duplicate of line 2' },
    ]);
    expect((await registerOf(bank))[0]).toMatchObject({ customer_number: 'C1', name_kana: 'ﾔﾏﾀﾞ ﾀﾛｳ' });
    // The same file into the non-empty register (staging, not a first load): the same report.
    for (const mode of ['delta', 'full'] as const) {
      const again = await upload(bank, csv(row(1), row(2), row(1, { kana: 'スズキ ハナコ' }), row(1, { customer: 'X9' })), mode);
      expect(again.counts).toEqual({ inserted: 0, updated: 0, closed: 0, unchanged: 2, rejected: 2 });
      expect(again.errors).toEqual(view.errors);
    }
    expect((await registerOf(bank))[0]).toMatchObject({ customer_number: 'C1', name_kana: 'ﾔﾏﾀﾞ ﾀﾛｳ' });
  });

  it('refuses what is not a register before writing anything (422 REGISTER_FILE_REFUSED)', async () => {
    await clear(bank);
    const importsBefore = await a.db.query('SELECT count(*)::int AS n FROM register_imports');
    const refuse = async (body: string | Buffer, contentType = 'text/csv') => {
      const res = await a.http
        .post('/v1/register-imports?mode=full')
        .set(bank.auth)
        .set('content-type', contentType)
        .send(typeof body === 'string' ? Buffer.from(body) : body)
        .expect(422);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.code).toBe('REGISTER_FILE_REFUSED');
      return res.body.detail as string;
    };
    expect(await refuse(`name,amount\n${row(1)}\n`)).toMatch(/header/);
    expect(await refuse(`${CSV_HEADER}\n`)).toMatch(/no rows/);
    expect(await refuse(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0x14, 0]))).toMatch(/binary/);
    expect(await refuse('[1,2,3]\n', 'application/x-ndjson')).toMatch(/first line/);
    expect(await refuse('', 'application/x-ndjson')).toMatch(/empty/);
    expect(await a.db.query('SELECT count(*)::int AS n FROM register_imports')).toEqual(importsBefore);
    expect(await registerOf(bank)).toEqual([]);
    // Wrong media type, missing or bad mode.
    await a.http.post('/v1/register-imports?mode=full').set(bank.auth).set('content-type', 'text/plain').send('x').expect(415);
    const badMode = await a.http.post('/v1/register-imports?mode=all').set(bank.auth).set('content-type', 'text/csv').send(csv(row(1))).expect(422);
    expect(badMode.body.code).toBe('VALIDATION_FAILED');
  });

  it("isolation and scopes: another institution's import is 404; keys without register scopes are 403", async () => {
    const view = await upload(bank, csv(row(1)));
    await a.http.get(`/v1/register-imports/${view.id}`).set(other.auth).expect(404);
    await a.http.get('/v1/register-imports/not-a-uuid').set(bank.auth).expect(404);
    const list = await a.http.get('/v1/register-imports').set(other.auth).expect(200);
    expect(list.body.items.map((i: { id: string }) => i.id)).not.toContain(view.id);
    expect((await a.http.get('/v1/register-imports').set(bank.auth).expect(200)).body.items[0].id).toBe(view.id);
    const denied = await a.http.post('/v1/register-imports?mode=delta').set(noScopes.auth).set('content-type', 'text/csv').send(csv(row(1))).expect(403);
    expect(denied.body.code).toBe('FORBIDDEN_SCOPE');
    await a.http.get(`/v1/register-imports/${view.id}`).set(noScopes.auth).expect(403);
    const audit = await a.db.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'register.import' AND resource_id = $1`, [view.id]);
    expect(audit[0].n).toBe(1);
  });

  it('the CLI: imports a file; killed mid-file, it leaves the register exactly as it was', async () => {
    await clear(other);
    const small = join(dir, 'small.csv');
    await writeRegisterCsv(small, 1000, 7);
    const first = await runCli(['--institution', '0006', '--mode', 'full', '--no-progress', small]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/inserted 1000, updated 0, closed 0, unchanged 0, rejected 0/);
    const before = await registerOf(other);
    expect(before).toHaveLength(1000);

    // A big file with other values (seed): killed while rows are being read.
    const big = join(dir, 'big.csv');
    await writeRegisterCsv(big, 400_000, 8);
    const child = spawn(process.execPath, [CLI, '--institution', '0006', '--mode', 'full', '--no-progress', big], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...a.env },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
    await eventually(
      () => a.db.query(`SELECT rows_read::int AS n FROM register_imports WHERE source = 'cli' AND status = 'running'`),
      (rows) => rows.length === 1 && rows[0].n > 0,
      60_000,
    );
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // The server notices the dead connection and rolls back: no staging, no merge.
    await eventually(
      () => a.db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'kouza-hub-register-import'`),
      (rows) => rows[0].n === 0,
    );
    expect(await registerOf(other)).toEqual(before);

    const refused = await runCli(['--institution', '0006', '--mode', 'full', '--no-progress', join(REPO_ROOT, 'package.json')]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/REFUSED/);
    expect(await registerOf(other)).toEqual(before);
  }, 120_000);

  const runCli = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...a.env } });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout }));
    });
});

// A full import into a non-empty register changes it in place or rebuilds it
// (REGISTER_REBUILD_PERCENT): the same file gives the same register and counts either way.
describe.each([
  ['in place', '100'],
  ['by a rebuild', '0'],
])('account register import: full and delta, a full import applied %s', (_how, percent) => {
  let a: TestApp;
  let bank: TestInstitution;

  beforeAll(async () => {
    a = await startTestApp({ env: { REGISTER_REBUILD_PERCENT: percent, REGISTER_IMPORT_MAX_ERRORS: '2' } });
    await a.startWorker();
    bank = await a.createInstitution('0005', ['register:write', 'register:read']);
  });

  afterAll(async () => {
    await a?.close();
  });

  const upload = uploader(() => a);
  const registerOf = registerReader(() => a);

  it('keeps REGISTER_IMPORT_MAX_ERRORS row errors in the report and counts them all', async () => {
    const other = await a.createInstitution('0900', ['register:write', 'register:read']);
    const view = await upload(other, csv(row(1, { kana: 'x' }), row(2, { birth: '1800-01-01' }), row(3, { status: '?' }), row(4)));
    expect(view.counts).toMatchObject({ inserted: 1, rejected: 3 });
    expect(view.errors.map((e: { line: number }) => e.line)).toEqual([2, 3]);
  });

  it('re-importing the same file changes nothing; full closes the absent and reopens; delta only upserts', async () => {
    const all = csv(row(1), row(2), row(3));
    expect((await upload(bank, all, 'full')).counts).toMatchObject({ inserted: 3 });
    const before = await registerOf(bank);
    const again = await upload(bank, all, 'full');
    expect(again.counts).toEqual({ inserted: 0, updated: 0, closed: 0, unchanged: 3, rejected: 0 });
    expect(await registerOf(bank)).toEqual(before);

    // delta with one row changed: the others stay as they are.
    const delta = await upload(bank, csv(row(2, { address: '東京都港区芝公園4丁目2番8号' })), 'delta');
    expect(delta.counts).toEqual({ inserted: 0, updated: 1, closed: 0, unchanged: 0, rejected: 0 });
    const afterDelta = await registerOf(bank);
    expect(afterDelta.map((r) => r.status)).toEqual(['open', 'open', 'open']);

    // full without account 3: closed. A rejected row's account (2, bad kana) is left alone.
    // In place, the partition is the same table; rebuilt, a new one was swapped in.
    const partition = async () =>
      (await a.db.query(`SELECT to_regclass($1)::oid::text AS oid`, [`account_register_${bank.id.replace(/-/g, '')}`]))[0].oid;
    const tableBefore = await partition();
    const full = await upload(bank, csv(row(1), row(2, { kana: 'やまだ' })), 'full');
    expect((await partition()) === tableBefore).toBe(percent === '100');
    expect(full.counts).toEqual({ inserted: 0, updated: 0, closed: 1, unchanged: 1, rejected: 1 });
    let rows = await registerOf(bank);
    expect(rows.map((r) => r.status)).toEqual(['open', 'open', 'closed']);
    expect(rows[2].closed_at).not.toBeNull();
    // Rebuilt or changed in place: the unchanged row and the rejected row's account are
    // as they were, updated_at included.
    expect(rows[0]).toEqual(before[0]);
    expect(rows[1]).toEqual(afterDelta[1]);

    // It reappears open: reopened.
    const reopened = await upload(bank, all, 'full');
    expect(reopened.counts).toEqual({ inserted: 0, updated: 2, closed: 0, unchanged: 1, rejected: 0 });
    rows = await registerOf(bank);
    expect(rows.map((r) => [r.status, r.closed_at])).toEqual([['open', null], ['open', null], ['open', null]]);
  });

});

describe('account register import: a worker killed mid-import of an upload', () => {
  let c: TestApp;
  let bank: TestInstitution;
  let dir: string;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    c = await startTestApp();
    bank = await c.createInstitution('0005', ['register:write', 'register:read']);
    dir = mkdtempSync(join(tmpdir(), 'register-kill-e2e-'));
  });

  afterAll(async () => {
    for (const w of workers) await w.kill('SIGKILL');
    await c?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const startWorker = () => {
    const w = new WorkerProcess(c.env);
    workers.push(w);
    return w;
  };
  const post = async (body: Buffer) =>
    (
      await c.http
        .post('/v1/register-imports?mode=full')
        .set(bank.auth)
        .set('content-type', 'text/csv; charset=utf-8')
        .send(body)
        .expect(202)
    ).body.id as string;
  const importRow = async (id: string) =>
    (
      await c.db.query(
        `SELECT status, attempts, rows_read::int AS "rowsRead", inserted, updated, closed, unchanged, rejected
           FROM register_imports WHERE id = $1`,
        [id],
      )
    )[0];
  const register = () =>
    c.db.query(
      `SELECT branch_code, account_type, account_number, customer_number, name_kana, birth_date::text, address, status,
              closed_at, updated_at
         FROM account_register WHERE institution_id = $1 ORDER BY branch_code, account_type, account_number`,
      [bank.id],
    );

  it('SIGKILL while rows are read: the register is unchanged, and a new worker retries and completes the job', async () => {
    const first = startWorker();
    const small = join(dir, 'small.csv');
    await writeRegisterCsv(small, 1000, 7);
    const loaded = await post(readFileSync(small));
    await eventually(() => importRow(loaded), (r) => FINAL.includes(r.status), 30_000);
    expect(await importRow(loaded)).toMatchObject({ status: 'completed', attempts: 1, inserted: 1000 });
    const before = await register();
    expect(before).toHaveLength(1000);

    // A full import of a bigger file with other values (seed 8: other holders and
    // account types), killed while its rows are being read.
    const big = join(dir, 'big.csv');
    await writeRegisterCsv(big, 600_000, 8);
    const id = await post(readFileSync(big));
    await eventually(() => importRow(id), (r) => r.status === 'running' && r.rowsRead > 0, 60_000);
    expect(await first.kill('SIGKILL')).toBe('SIGKILL');
    expect((await importRow(id)).status).toBe('running');
    // Postgres sees the connection drop and rolls the import's transaction back.
    await eventually(
      () => c.db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY %' AND datname = current_database()`),
      (rows) => rows[0].n === 0,
    );
    expect(await register()).toEqual(before);

    // BullMQ hands the stalled job to the next worker, which starts again from the spool.
    startWorker();
    const done = await eventually(() => importRow(id), (r) => FINAL.includes(r.status), 110_000);
    expect(done).toMatchObject({ status: 'completed', attempts: 2, rejected: 0 });
    expect(done.inserted + done.updated + done.unchanged).toBe(600_000);
    // The first file's accounts that the second does not hold stay, closed (those
    // open before are counted as closed, once).
    const absent = 1000 - done.updated - done.unchanged;
    expect(done.closed).toBeGreaterThan(0);
    expect(done.closed).toBeLessThanOrEqual(absent);
    const after = await c.db.query('SELECT count(*)::int AS n FROM account_register WHERE institution_id = $1', [bank.id]);
    expect(after[0].n).toBe(600_000 + absent);
    // The spool is deleted once the import has an outcome (just after its commit).
    await eventually(
      () => c.db.query('SELECT count(*)::int AS n FROM register_import_chunks WHERE import_id = $1', [id]),
      (rows) => rows[0].n === 0,
    );
  }, 180_000);
});
