import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { validMyNumber } from './support/my-numbers.js';

const run = promisify(execFile);

describe('audit trail', () => {
  let t: TestApp;
  let bank: TestInstitution;
  let seed = 5000;

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
  });
  afterAll(() => t.close());

  const eventsFor = async (requestId: string) =>
    (await t.db.pool.query('SELECT * FROM audit_events WHERE request_id = $1 ORDER BY id', [requestId])).rows;

  it('records who, what and when for create, read, find and revoke, never the number', async () => {
    const myNumber = validMyNumber(++seed);
    const created = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(myNumber, { branchCode: '007', operatorId: 'T0007' })).expect(201);
    const linkageId = created.body.linkages[0].id;
    const subjectId = created.body.subject.id;
    const [attach] = await eventsFor(created.headers['x-request-id']);
    expect(attach).toMatchObject({
      action: 'linkage.attach',
      actor_type: 'institution',
      institution_id: bank.id,
      api_key_id: expect.any(String),
      branch_code: '007',
      operator_id: 'T0007',
      resource_type: 'attachment',
      resource_id: created.body.id,
      subject_id: subjectId,
      details: expect.objectContaining({ linkageIds: [linkageId], created: 1, numberDocument: 'my-number-card' }),
    });
    expect(attach.occurred_at).toBeInstanceOf(Date);

    const read = await t.http.get(`/v1/linkages/${linkageId}`).set(bank.auth).set('X-Branch-Code', '008').set('X-Operator-Id', 'T0008').expect(200);
    expect(await eventsFor(read.headers['x-request-id'])).toEqual([
      expect.objectContaining({ action: 'linkage.read', resource_id: linkageId, subject_id: subjectId, branch_code: '008', operator_id: 'T0008' }),
    ]);

    const found = await t.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }).set(bank.auth).expect(200);
    expect(await eventsFor(found.headers['x-request-id'])).toEqual([
      expect.objectContaining({ action: 'linkage.find', subject_id: subjectId, details: expect.objectContaining({ linkageIds: [linkageId] }) }),
    ]);

    const nothing = await t.http.get('/v1/linkages').query({ branchCode: '009', accountType: 'ordinary', accountNumber: '0000009' }).set(bank.auth).expect(200);
    expect(await eventsFor(nothing.headers['x-request-id'])).toEqual([expect.objectContaining({ action: 'linkage.find', subject_id: null })]);

    const revoked = await t.http.post(`/v1/linkages/${linkageId}/revocation`).set(bank.auth).send({ reason: 'depositor-request', branchCode: '009', operatorId: 'T0009' }).expect(200);
    expect(await eventsFor(revoked.headers['x-request-id'])).toEqual([
      expect.objectContaining({ action: 'linkage.revoke', resource_id: linkageId, subject_id: subjectId, branch_code: '009', operator_id: 'T0009' }),
    ]);

    const all = await t.db.pool.query('SELECT t::text AS line FROM audit_events t');
    for (const { line } of all.rows) expect(line).not.toContain(myNumber);
  });

  it('a refused request writes no audit row', async () => {
    const before = await t.db.pool.query('SELECT count(*) FROM audit_events');
    await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody('123456789019')).expect(422);
    await t.http.get('/v1/linkages/00000000-0000-4000-8000-000000000000').set(bank.auth).expect(404);
    const after = await t.db.pool.query('SELECT count(*) FROM audit_events');
    expect(after.rows[0].count).toBe(before.rows[0].count);
  });

  it('the database refuses UPDATE, DELETE and TRUNCATE on the trail', async () => {
    for (const sql of ['UPDATE audit_events SET action = $$x$$', 'DELETE FROM audit_events', 'TRUNCATE audit_events', 'DELETE FROM audit_chain', 'UPDATE audit_chain SET seq = seq + 1000']) {
      await expect(t.db.pool.query(sql)).rejects.toThrow(/append-only/);
    }
  });

  describe('hash chain', () => {
    it('concurrent writers are not serialized, and the worker seals every row into a chain that verifies', async () => {
      await t.startWorker();
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          t.http.post('/v1/linkages').set(bank.auth).send(
            linkageBody(validMyNumber(++seed), { accounts: [{ branchCode: '100', accountType: 'savings', accountNumber: String(9_000_000 + i) }] }),
          ),
        ),
      );
      expect(results.every((r) => r.status === 201)).toBe(true);
      const total = Number((await t.db.pool.query('SELECT count(*) FROM audit_events')).rows[0].count);
      await eventually(
        async () => Number((await t.db.pool.query('SELECT count(*) FROM audit_chain')).rows[0].count),
        (sealed) => sealed >= total,
      );
      const verification = await t.http.get('/v1/audit/verification').set(t.admin).expect(200);
      expect(verification.body).toEqual({
        ok: true,
        checkedLinks: total,
        events: total,
        unsealed: 0,
        problems: [],
        checkpoints: [{ source: 'file', seq: expect.any(String), signedAt: expect.any(String) }],
        checkpointSources: [{ source: 'file', status: 'checked' }],
      });
    });

    it('finds an edited row and a deleted row', async () => {
      const chain = (await t.db.pool.query('SELECT seq, event_id FROM audit_chain ORDER BY seq LIMIT 3')).rows;
      // A DBA with the power to disable the guard edits one row and deletes another.
      const client = await t.db.pool.connect();
      try {
        await client.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
        await client.query(`UPDATE audit_events SET operator_id = 'SOMEONE-ELSE' WHERE id = $1`, [chain[1].event_id]);
        await client.query('DELETE FROM audit_events WHERE id = $1', [chain[2].event_id]);
        await client.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
      } finally {
        client.release();
      }
      const res = await t.http.get('/v1/audit/verification').set(t.admin).expect(200);
      expect(res.body.ok).toBe(false);
      expect(res.body.problems).toEqual([
        { seq: String(chain[1].seq), eventId: String(chain[1].event_id), kind: 'event-modified' },
        { seq: String(chain[2].seq), eventId: String(chain[2].event_id), kind: 'event-missing' },
      ]);
    });

    it('`npm run audit:verify` reports the same and exits non-zero', async () => {
      const cli = new URL('../../dist/src/cli/audit-verify.js', import.meta.url);
      if (!existsSync(cli)) throw new Error('build first: the CLI runs from dist/ (npm test builds it)');
      const outcome = await run(process.execPath, [cli.pathname], { env: { ...process.env, ...t.env } }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
      expect(outcome.code).toBe(2);
      const report = JSON.parse(outcome.stdout);
      expect(report.ok).toBe(false);
      expect(report.problems.map((p: { kind: string }) => p.kind)).toEqual(['event-modified', 'event-missing']);
    });
  });
});
