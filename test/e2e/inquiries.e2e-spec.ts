import { IdempotencyService } from '../../src/idempotency/idempotency.service.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FanoutRepository } from '../../src/inquiries/fanout/fanout.repository.js';
import { disasterBody, finalInquiry, inheritanceBody } from './support/inquiries.js';
import { invalidMyNumber, validMyNumber } from './support/my-numbers.js';
import { eventually, linkageBody, startTestApp } from './support/test-app.js';
import type { TestApp, TestInstitution } from './support/test-app.js';

const DAY = 86_400_000;

describe('inquiries: hosted institutions', () => {
  let t: TestApp;
  let requester: TestInstitution;
  let holder: TestInstitution;
  let readOnly: TestInstitution;
  let worker: Awaited<ReturnType<TestApp['startWorker']>>;


  const inquiryCount = async () => Number((await t.db.query('SELECT count(*) AS n FROM inquiries'))[0].n);

  beforeAll(async () => {
    t = await startTestApp({ env: { PEER_BATCH_WAIT_MS: '20', RECONCILE_INTERVAL_MS: '500' } });
    requester = await t.createInstitution('0001');
    holder = await t.createInstitution('0002');
    readOnly = await t.createInstitution('0003', ['linkages:read', 'inquiries:read']);
  });
  afterAll(() => t.close());

  describe('validation (nothing is stored)', () => {
    const cases: [string, Record<string, unknown>, string, string][] = [
      ['no date of death', inheritanceBody(validMyNumber(1), { subject: { myNumber: validMyNumber(1), nameKana: 'ヤマダ', birthDate: '1940-01-01' } }), 'subject.dateOfDeath', 'REQUIRED'],
      ['a date of death in the future', inheritanceBody(validMyNumber(1), { subject: { myNumber: validMyNumber(1), nameKana: 'ヤマダ', birthDate: '1940-01-01', dateOfDeath: '2999-01-01' } }), 'subject.dateOfDeath', 'DATE_IN_FUTURE'],
      ['death before birth', inheritanceBody(validMyNumber(1), { subject: { myNumber: validMyNumber(1), nameKana: 'ヤマダ', birthDate: '1940-01-01', dateOfDeath: '1939-01-01' } }), 'subject.dateOfDeath', 'INVALID_VALUE'],
      ['an applicant who is not an heir', inheritanceBody(validMyNumber(1), { applicant: { relationship: 'self', name: '山田' } }), 'applicant.relationship', 'INVALID_VALUE'],
      ['an unknown relationship', inheritanceBody(validMyNumber(1), { applicant: { relationship: 'friend', name: '山田' } }), 'applicant.relationship', 'INVALID_VALUE'],
      ['no death evidence', inheritanceBody(validMyNumber(1), { evidence: [] }), 'evidence', 'TOO_FEW'],
      ['evidence that is not of a death', inheritanceBody(validMyNumber(1), { evidence: [{ type: 'passport', reference: 'x' }] }), 'evidence[0].type', 'INVALID_VALUE'],
      ['evidence without a reference', inheritanceBody(validMyNumber(1), { evidence: [{ type: 'legal-heir-information' }] }), 'evidence[0].reference', 'REQUIRED'],
      ['an unknown kind', inheritanceBody(validMyNumber(1), { kind: 'curiosity' }), 'kind', 'INVALID_VALUE'],
      ['an unknown field', inheritanceBody(validMyNumber(1), { balance: true }), 'balance', 'UNKNOWN_FIELD'],
      ['a disaster inquiry without municipality', disasterBody(validMyNumber(1), { subject: { myNumber: validMyNumber(1), nameKana: 'ヤマダ', birthDate: '1970-01-01' } }), 'subject.municipalityCode', 'REQUIRED'],
      ['a municipality code with a wrong check digit', disasterBody(validMyNumber(1), { subject: { myNumber: validMyNumber(1), nameKana: 'ヤマダ', birthDate: '1970-01-01', municipalityCode: '172040' } }), 'subject.municipalityCode', 'INVALID_FORMAT'],
      ['a disaster applicant who is an heir', disasterBody(validMyNumber(1), { applicant: { relationship: 'heir', name: '山田' } }), 'applicant.relationship', 'INVALID_VALUE'],
      ['malformed target codes', inheritanceBody(validMyNumber(1), { targetInstitutions: ['12'] }), 'targetInstitutions', 'INVALID_FORMAT'],
      ['duplicate target codes', inheritanceBody(validMyNumber(1), { targetInstitutions: ['0001', '0001'] }), 'targetInstitutions', 'DUPLICATE'],
    ];
    it.each(cases)('refuses %s with 422 and the field path', async (_name, body, path, code) => {
      const response = await t.http.post('/v1/inquiries').set(requester.auth).send(body).expect(422);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(response.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path, code })]));
      expect(await inquiryCount()).toBe(0);
    });

    it('refuses an invalid My Number with INVALID_MY_NUMBER and does not echo it', async () => {
      const bad = invalidMyNumber(7);
      const response = await t.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(bad)).expect(422);
      expect(response.body.code).toBe('INVALID_MY_NUMBER');
      expect(JSON.stringify(response.body)).not.toContain(bad);
      expect(await inquiryCount()).toBe(0);
    });

    it('refuses a target institution nobody knows with UNKNOWN_INSTITUTION', async () => {
      const response = await t.http
        .post('/v1/inquiries')
        .set(requester.auth)
        .send(inheritanceBody(validMyNumber(2), { targetInstitutions: ['0002', '9876'] }))
        .expect(422);
      expect(response.body).toMatchObject({ code: 'UNKNOWN_INSTITUTION', unknown: ['9876'] });
      expect(await inquiryCount()).toBe(0);
    });

    it('needs the inquiries:write scope', async () => {
      await t.http.post('/v1/inquiries').set(readOnly.auth).send(inheritanceBody(validMyNumber(3))).expect(403);
      await t.http.post('/v1/inquiries').send(inheritanceBody(validMyNumber(3))).expect(401);
    });
  });

  describe('disaster declarations', () => {
    it('are the operator’s: validated, 5- and 6-digit codes kept as 5', async () => {
      await t.http.post('/v1/disaster-declarations').set(requester.auth).send({}).expect(403);
      const bad = await t.http
        .post('/v1/disaster-declarations')
        .set(t.admin)
        .send({ name: 'x', municipalityCodes: ['172040'], startsAt: '2026-01-01T00:00:00Z', endsAt: '2025-01-01T00:00:00Z' })
        .expect(422);
      expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['municipalityCodes']);
      const backwards = await t.http
        .post('/v1/disaster-declarations')
        .set(t.admin)
        .send({ name: 'x', municipalityCodes: ['17204'], startsAt: '2026-01-01T00:00:00Z', endsAt: '2025-01-01T00:00:00Z' })
        .expect(422);
      expect(backwards.body.errors).toEqual([expect.objectContaining({ path: 'endsAt', code: 'INVALID_VALUE' })]);
    });

    it('a disaster inquiry needs an active declaration covering the municipality', async () => {
      const refuse = async () => {
        const response = await t.http.post('/v1/inquiries').set(requester.auth).send(disasterBody(validMyNumber(4))).expect(422);
        expect(response.body.code).toBe('NO_ACTIVE_DISASTER_DECLARATION');
      };
      await refuse();
      // Queued before the disaster inquiries below, and served after them (no worker runs yet).
      await t.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(validMyNumber(600))).expect(202);
      const now = Date.now();
      const declare = (codes: string[], startsAt: number, endsAt: number) =>
        t.http
          .post('/v1/disaster-declarations')
          .set(t.admin)
          .send({ name: '令和8年豪雨', municipalityCodes: codes, startsAt: new Date(startsAt).toISOString(), endsAt: new Date(endsAt).toISOString() })
          .expect(201);
      await declare(['17205'], now - DAY, now + DAY); // elsewhere
      await declare(['17204'], now - 10 * DAY, now - DAY); // over
      await declare(['17204'], now + DAY, now + 10 * DAY); // not yet
      await refuse();
      const active = await declare(['131016', '17204'], now - DAY, now + 30 * DAY);
      expect(active.body).toMatchObject({ municipalityCodes: ['13101', '17204'], active: true });
      const accepted = await t.http.post('/v1/inquiries').set(requester.auth).send(disasterBody(validMyNumber(4))).expect(202);
      expect(accepted.body).toEqual({ id: expect.any(String), status: 'queued' });
      expect(accepted.headers.location).toBe(`/v1/inquiries/${accepted.body.id}`);
      const named = await t.http
        .post('/v1/inquiries')
        .set(requester.auth)
        .send(disasterBody(validMyNumber(4), { declarationId: active.body.id }))
        .expect(202);
      expect(named.body.status).toBe('queued');
      const list = await t.http.get('/v1/disaster-declarations').set(t.admin).expect(200);
      expect(list.body.items).toHaveLength(4);
    });
  });

  describe('the fan-out to hosted institutions', () => {
    const deceased = validMyNumber(500);
    const nobody = validMyNumber(501);
    let linkageIds: string[];
    let deceasedInquiryId: string;

    beforeAll(async () => {
      const accounts = [
        { branchCode: '101', accountType: 'ordinary', accountNumber: '0000501' },
        { branchCode: '102', accountType: 'savings', accountNumber: '0000502' },
      ];
      const attached = await t.http.post('/v1/linkages').set(holder.auth).send(linkageBody(deceased, { accounts })).expect(201);
      linkageIds = attached.body.linkages.map((l: { id: string }) => l.id);
      await t.http.post('/v1/linkages').set(requester.auth).send(linkageBody(deceased)).expect(201);
      worker = await t.startWorker();
    });

    it('answers queued inquiries (disaster ones first) and finds the accounts at every hosted institution', async () => {
      const inquiry = await t.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(deceased)).expect(202);
      deceasedInquiryId = inquiry.body.id;
      const view = await finalInquiry(t, requester, inquiry.body.id);
      expect(view).toMatchObject({
        id: inquiry.body.id,
        kind: 'inheritance',
        status: 'completed',
        progress: { total: 3, answered: 3, failed: 0 },
        completedAt: expect.any(String),
        resultsPurgedAt: null,
      });
      expect(view.results).toEqual([
        {
          institutionCode: '0001',
          institutionName: 'Bank 0001',
          status: 'found',
          accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }],
        },
        {
          institutionCode: '0002',
          institutionName: 'Bank 0002',
          status: 'found',
          accounts: expect.arrayContaining([
            { branchCode: '101', accountType: 'ordinary', accountNumber: '0000501' },
            { branchCode: '102', accountType: 'savings', accountNumber: '0000502' },
          ]),
        },
        { institutionCode: '0003', institutionName: 'Bank 0003', status: 'not-found', accounts: [] },
      ]);
      // The number is gone once the inquiry is final; its blind index stays.
      const [row] = await t.db.query('SELECT my_number_ciphertext, blind_index FROM inquiries WHERE id = $1', [inquiry.body.id]);
      expect(row.my_number_ciphertext).toBeNull();
      expect(row.blind_index).not.toBeNull();
    });

    it.each([
      ['a wrong kana name', { nameKana: 'スズキ ハナコ' }],
      ['a wrong birth date', { birthDate: '1980-04-02' }],
    ])('with the right number and %s: not-found everywhere, and no holder marked deceased', async (_label, wrong) => {
      const living = validMyNumber(502);
      const accounts = [{ branchCode: '103', accountType: 'ordinary', accountNumber: '0000503' }];
      if ('nameKana' in wrong) await t.http.post('/v1/linkages').set(holder.auth).send(linkageBody(living, { accounts })).expect(201);
      const body = inheritanceBody(living);
      const inquiry = await t.http
        .post('/v1/inquiries')
        .set(requester.auth)
        .send({ ...body, subject: { ...(body.subject as object), ...wrong } })
        .expect(202);
      const view = await finalInquiry(t, requester, inquiry.body.id);
      expect(view.status).toBe('completed');
      expect(view.results.map((r: { status: string }) => r.status)).toEqual(['not-found', 'not-found', 'not-found']);
      const [marked] = await t.db.query(
        `SELECT count(*)::int AS n FROM linkages WHERE account_number = '0000503' AND holder_reported_deceased_at IS NOT NULL`,
      );
      expect(marked.n).toBe(0);
      const located = await t.db.query(`SELECT 1 FROM audit_events WHERE resource_id = $1 AND action = 'inquiry.subject-located'`, [inquiry.body.id]);
      expect(located).toHaveLength(0);
    });

    it('counts inquiries created per requesting institution (kouza_inquiries_created_total); a replay does not count', async () => {
      const created = async () => {
        const text = (await t.http.get('/metrics').expect(200)).text;
        const line = text.split('\n').find((l) => l.startsWith('kouza_inquiries_created_total{institution="0001",kind="inheritance"}'));
        return line ? Number(line.split(' ').pop()) : 0;
      };
      const before = await created();
      const body = inheritanceBody(validMyNumber(503));
      await t.http.post('/v1/inquiries').set(requester.auth).set('Idempotency-Key', 'metric-1').send(body).expect(202);
      await t.http.post('/v1/inquiries').set(requester.auth).set('Idempotency-Key', 'metric-1').send(body).expect(202);
      expect(await created()).toBe(before + 1);
    });

    it('records on each hosted linkage of the deceased that the holder was reported deceased', async () => {
      const first = { id: deceasedInquiryId };
      for (const id of linkageIds) {
        const linkage = await t.http.get(`/v1/linkages/${id}`).set(holder.auth).expect(200);
        expect(linkage.body.holderDeceased).toEqual({
          reportedAt: expect.any(String),
          dateOfDeath: '2026-10-01',
          inquiryId: first.id,
          reportedByNode: null,
          evidence: [{ type: 'legal-heir-information', reference: 'HJ-2026-0001' }],
        });
      }
      const audits = await t.db.query(
        `SELECT action, institution_id, details FROM audit_events WHERE resource_id = $1 ORDER BY id`,
        [first.id],
      );
      const actions = audits.map((a: { action: string }) => a.action);
      expect(actions).toEqual(expect.arrayContaining(['inquiry.create', 'inquiry.subject-located', 'linkage.holder-reported-deceased', 'inquiry.complete']));
      expect(actions.filter((a: string) => a === 'inquiry.subject-located')).toHaveLength(2);
    });

    it('answers not-found everywhere for a number nobody holds, and honours targetInstitutions', async () => {
      const inquiry = await t.http
        .post('/v1/inquiries')
        .set(requester.auth)
        .send(inheritanceBody(nobody, { targetInstitutions: ['0002'] }))
        .expect(202);
      const view = await finalInquiry(t, requester, inquiry.body.id);
      expect(view.status).toBe('completed');
      expect(view.results).toEqual([{ institutionCode: '0002', institutionName: 'Bank 0002', status: 'not-found', accounts: [] }]);
      // The creation's audit row counts the institutions asked: one here, every known one (three) by default.
      const created = async (id: string) =>
        (await t.db.query(`SELECT details FROM audit_events WHERE resource_id = $1 AND action = 'inquiry.create'`, [id]))[0].details;
      expect(await created(inquiry.body.id)).toMatchObject({ kind: 'inheritance', institutions: 1 });
      expect(await created(deceasedInquiryId)).toMatchObject({ kind: 'inheritance', institutions: 3 });
    });

    it('served the disaster inquiries queued before the worker started ahead of an earlier inheritance inquiry', async () => {
      const queued = await t.db.query(
        `SELECT id, kind FROM inquiries WHERE created_at < (SELECT min(created_at) FROM linkages) ORDER BY created_at`,
      );
      expect(queued.map((q: { kind: string }) => q.kind)).toEqual(['inheritance', 'disaster', 'disaster']);
      for (const q of queued) expect((await finalInquiry(t, requester, q.id)).status).toBe('completed');
      // Compared in the database: microseconds, where JavaScript dates keep milliseconds.
      const [order] = await t.db.query(
        `SELECT bool_and(d.started_at < i.started_at) AS disaster_first
           FROM inquiries d, inquiries i
          WHERE d.id = ANY ($1::uuid[]) AND d.kind = 'disaster' AND i.id = ANY ($1::uuid[]) AND i.kind = 'inheritance'`,
        [queued.map((q: { id: string }) => q.id)],
      );
      expect(order.disaster_first).toBe(true);
    });

    it('tells the requesting institution by a signed webhook when the inquiry is final', async () => {
      const received: { headers: Record<string, unknown>; body: any }[] = [];
      const receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => (body += chunk));
        req.on('end', () => {
          received.push({ headers: req.headers, body: JSON.parse(body) });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
        const configured = await t.http.put(`/v1/institutions/0001/webhook`).set(t.admin).send({ url }).expect(200);
        expect(configured.body.webhookSecret).toMatch(/^whsec_/);
        const inquiry = await t.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(nobody)).expect(202);
        await finalInquiry(t, requester, inquiry.body.id);
        const [event] = await eventually(
          async () => received,
          (r) => r.length > 0,
        );
        expect(event.body).toMatchObject({
          type: 'inquiry.completed',
          data: { inquiryId: inquiry.body.id, kind: 'inheritance', status: 'completed' },
        });
        expect(event.headers['webhook-signature']).toMatch(/^v1,/);
        expect(JSON.stringify(event.body)).not.toContain(nobody);
      } finally {
        await t.http.delete(`/v1/institutions/0001/webhook`).set(t.admin);
        receiver.close();
      }
    });

    it('honours Idempotency-Key: replays (also 20 at once) make one inquiry; another body is refused', async () => {
      const body = inheritanceBody(nobody, { targetInstitutions: ['0003'] });
      const first = await t.http.post('/v1/inquiries').set(requester.auth).set('Idempotency-Key', 'inq-1').send(body).expect(202);
      const again = await t.http.post('/v1/inquiries').set(requester.auth).set('Idempotency-Key', 'inq-1').send(body).expect(202);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      const other = await t.http
        .post('/v1/inquiries')
        .set(requester.auth)
        .set('Idempotency-Key', 'inq-1')
        .send(inheritanceBody(nobody, { targetInstitutions: ['0002'] }))
        .expect(422);
      expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
      const burst = await Promise.all(
        Array.from({ length: 20 }, () => t.http.post('/v1/inquiries').set(requester.auth).set('Idempotency-Key', 'inq-2').send(body)),
      );
      expect(new Set(burst.map((r) => `${r.status} ${r.body.id}`)).size).toBe(1);
      expect(burst[0].status).toBe(202);
      const [count] = await t.db.query(`SELECT count(*)::int AS n FROM inquiries WHERE id = ANY ($1::uuid[])`, [
        [first.body.id, burst[0].body.id],
      ]);
      expect(count.n).toBe(2);
      // Two keys kept, each only as its HMAC (a key is the caller's free text).
      const stored = ['inq-1', 'inq-2'].map((key) => t.app.get(IdempotencyService).storedKey('POST /v1/inquiries', key));
      const [keys] = await t.db.query(`SELECT count(*)::int AS n FROM idempotency_keys WHERE idempotency_key = ANY ($1::text[])`, [stored]);
      expect(keys.n).toBe(2);
      expect(await t.db.query(`SELECT 1 FROM idempotency_keys WHERE idempotency_key LIKE 'inq-%'`)).toEqual([]);
    });

    it('shows an inquiry only to the institution that made it', async () => {
      const [mine] = await t.db.query(`SELECT id FROM inquiries WHERE institution_id = $1 LIMIT 1`, [requester.id]);
      const other = await t.http.get(`/v1/inquiries/${mine.id}`).set(holder.auth).expect(404);
      expect(other.body.code).toBe('NOT_FOUND');
      await t.http.get(`/v1/inquiries/not-a-uuid`).set(requester.auth).expect(404);
      const list = await t.http.get('/v1/inquiries').set(holder.auth).expect(200);
      expect(list.body.items).toEqual([]);
    });

    it('purges account lists after the retention period, keeping statuses', async () => {
      const done = { id: deceasedInquiryId };
      // The trail forbids rewriting audit rows, not inquiries: age this one.
      await t.db.query(`UPDATE inquiries SET completed_at = now() - interval '91 days' WHERE id = $1`, [done.id]);
      const purged = await worker.get(FanoutRepository).purgeResults(90, 100);
      expect(purged).toBe(1);
      const view = (await t.http.get(`/v1/inquiries/${done.id}`).set(requester.auth).expect(200)).body;
      expect(view.resultsPurgedAt).toEqual(expect.any(String));
      expect(view.results.map((r: { status: string }) => r.status)).toEqual(['found', 'found', 'not-found']);
      expect(view.results.every((r: { accounts: unknown[] }) => r.accounts.length === 0)).toBe(true);
    });

    it('an inquiry is never deleted, not even with the owner role: its answers (no foreign key) cannot be orphaned', async () => {
      for (const sql of [`DELETE FROM inquiries WHERE id = '${deceasedInquiryId}'`, 'TRUNCATE inquiries CASCADE']) {
        await expect(t.db.query(sql)).rejects.toThrow(/inquiries rows are never deleted/);
      }
      const [row] = await t.db.query(`SELECT count(*)::int AS n FROM inquiry_answers WHERE inquiry_id = $1`, [deceasedInquiryId]);
      expect(row.n).toBeGreaterThan(0);
    });
  });
});
