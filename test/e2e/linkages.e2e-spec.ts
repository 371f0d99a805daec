import { IdempotencyService } from '../../src/idempotency/idempotency.service.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { invalidMyNumber, validMyNumber } from './support/my-numbers.js';
import { linkageWriteCounts } from './support/test-database.js';
import { IdempotencyRepository } from '../../src/idempotency/idempotency.repository.js';

describe('linkages', () => {
  let t: TestApp;
  let bank: TestInstitution;
  let seed = 1000;
  const nextNumber = () => validMyNumber(++seed);
  let accountCounter = 100;
  const nextAccount = () => ({ branchCode: '001', accountType: 'ordinary', accountNumber: String(++accountCounter).padStart(7, '0') });

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
  });
  afterAll(() => t.close());

  const counts = () => linkageWriteCounts(t.db);

  describe('POST /v1/linkages', () => {
    it('attaches a number to accounts and answers 201 with the number masked', async () => {
      const myNumber = nextNumber();
      const accounts = [nextAccount(), { ...nextAccount(), accountType: 'savings', branchCode: '002' }];
      const res = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(myNumber, { accounts })).expect(201);
      expect(res.body).toEqual({
        id: expect.any(String),
        subject: { id: expect.any(String), myNumberMasked: `********${myNumber.slice(-4)}`, nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ', birthDate: '1980-04-01' },
        linkages: accounts.map((a) => ({ id: expect.any(String), ...a, status: 'active', createdAt: expect.any(String), alreadyLinked: false })),
      });
      expect(JSON.stringify(res.body)).not.toContain(myNumber);
    });

    it('stores full-width and half-width kana in one form', async () => {
      const a = await t.http.post('/v1/linkages').set(bank.auth).send(
        linkageBody(nextNumber(), { accounts: [nextAccount()], subject: { myNumber: validMyNumber(++seed), nameKana: 'ガッコウ　ハナコ', birthDate: '1975-12-31' } }),
      ).expect(201);
      const b = await t.http.post('/v1/linkages').set(bank.auth).send(
        linkageBody(nextNumber(), { accounts: [nextAccount()], subject: { myNumber: validMyNumber(++seed), nameKana: 'ｶﾞｯｺｳ ﾊﾅｺ', birthDate: '1975-12-31' } }),
      ).expect(201);
      expect(a.body.subject.nameKana).toBe('ｶﾞﾂｺｳ ﾊﾅｺ');
      expect(b.body.subject.nameKana).toBe('ｶﾞﾂｺｳ ﾊﾅｺ');
    });

    it('accepts zero-padded account numbers as they are', async () => {
      const account = { branchCode: '010', accountType: 'current', accountNumber: '0000001' };
      const res = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(nextNumber(), { accounts: [account] })).expect(201);
      expect(res.body.linkages[0]).toMatchObject(account);
    });

    it('linking the same number to the same account again is not an error and creates no duplicate', async () => {
      const myNumber = nextNumber();
      const account = nextAccount();
      const first = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(myNumber, { accounts: [account] })).expect(201);
      const before = await counts();
      const second = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(myNumber, { accounts: [account, nextAccount()] })).expect(201);
      const after = await counts();
      expect(second.body.subject.id).toBe(first.body.subject.id);
      expect(second.body.linkages[0]).toMatchObject({ id: first.body.linkages[0].id, alreadyLinked: true });
      expect(second.body.linkages[1]).toMatchObject({ alreadyLinked: false });
      expect(after.subjects).toBe(before.subjects);
      expect(after.linkages).toBe(before.linkages + 1);
    });

    it('refuses an account linked to another number with 409 ACCOUNT_LINKED_TO_OTHER_SUBJECT and writes nothing', async () => {
      const account = nextAccount();
      await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(nextNumber(), { accounts: [account] })).expect(201);
      const before = await counts();
      const other = nextNumber();
      const res = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(other, { accounts: [nextAccount(), account] })).expect(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'ACCOUNT_LINKED_TO_OTHER_SUBJECT', status: 409, account });
      expect(JSON.stringify(res.body)).not.toContain(other);
      expect(await counts()).toEqual(before);
    });

    it('refuses the same number with another birth date (409) and writes nothing', async () => {
      const myNumber = nextNumber();
      await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(myNumber, { accounts: [nextAccount()] })).expect(201);
      const before = await counts();
      const body = linkageBody(myNumber, { accounts: [nextAccount()] });
      (body.subject as Record<string, string>).birthDate = '1990-01-01';
      const res = await t.http.post('/v1/linkages').set(bank.auth).send(body).expect(409);
      expect(res.body.code).toBe('SUBJECT_BIRTH_DATE_MISMATCH');
      expect(await counts()).toEqual(before);
    });

    it('two concurrent requests linking one account to two numbers: exactly one wins', async () => {
      const account = nextAccount();
      const results = await Promise.all(
        [nextNumber(), nextNumber()].map((n) => t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(n, { accounts: [account] }))),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
      const active = await t.db.pool.query(`SELECT count(*) FROM linkages WHERE account_number = $1 AND status = 'active'`, [account.accountNumber]);
      expect(Number(active.rows[0].count)).toBe(1);
    });
  });

  describe('validation', () => {
    const tomorrow = () => new Date(Date.now() + 86_400_000 * 2).toISOString().slice(0, 10);
    const cases: Array<[string, string, string, (b: Record<string, any>) => void]> = [
      ['My Number with a wrong check digit', 'subject.myNumber', 'INVALID_MY_NUMBER', (b) => (b.subject.myNumber = invalidMyNumber(7))],
      ['My Number too short', 'subject.myNumber', 'INVALID_MY_NUMBER', (b) => (b.subject.myNumber = '12345678901')],
      ['My Number with a letter', 'subject.myNumber', 'INVALID_MY_NUMBER', (b) => (b.subject.myNumber = '12345678901a')],
      ['My Number as a JSON number', 'subject.myNumber', 'INVALID_MY_NUMBER', (b) => (b.subject.myNumber = 123456789018)],
      ['My Number missing', 'subject.myNumber', 'REQUIRED', (b) => delete b.subject.myNumber],
      ['branch code of 2 digits', 'branchCode', 'INVALID_FORMAT', (b) => (b.branchCode = '01')],
      ['account number of 6 digits', 'accounts[0].accountNumber', 'INVALID_FORMAT', (b) => (b.accounts[0].accountNumber = '123456')],
      ['account number as a number', 'accounts[0].accountNumber', 'INVALID_TYPE', (b) => (b.accounts[0].accountNumber = 1234567)],
      ['account type off the list', 'accounts[0].accountType', 'INVALID_VALUE', (b) => (b.accounts[0].accountType = 'checking')],
      ['account branch code of 4 digits', 'accounts[0].branchCode', 'INVALID_FORMAT', (b) => (b.accounts[0].branchCode = '0001')],
      ['name in hiragana', 'subject.nameKana', 'INVALID_KANA_NAME', (b) => (b.subject.nameKana = 'やまだ たろう')],
      ['name in kanji', 'subject.nameKana', 'INVALID_KANA_NAME', (b) => (b.subject.nameKana = '山田太郎')],
      ['birth date that does not exist', 'subject.birthDate', 'INVALID_DATE', (b) => (b.subject.birthDate = '1981-02-29')],
      ['birth date in the future', 'subject.birthDate', 'DATE_NOT_IN_PAST', (b) => (b.subject.birthDate = tomorrow())],
      ['consent in the future', 'consentAt', 'DATE_IN_FUTURE', (b) => (b.consentAt = new Date(Date.now() + 3_600_000).toISOString())],
      ['consent not a date', 'consentAt', 'INVALID_DATE', (b) => (b.consentAt = 'yesterday')],
      ['unknown number document', 'verification.numberDocument', 'INVALID_VALUE', (b) => (b.verification.numberDocument = 'photo')],
      ['no accounts', 'accounts', 'TOO_FEW', (b) => (b.accounts = [])],
      ['the same account twice', 'accounts', 'DUPLICATE', (b) => (b.accounts = [b.accounts[0], { ...b.accounts[0] }])],
      ['an unknown top-level field', 'balance', 'UNKNOWN_FIELD', (b) => (b.balance = 100)],
      ['an unknown nested field', 'subject.address', 'UNKNOWN_FIELD', (b) => (b.subject.address = 'Tokyo')],
      ['operator id holding a My Number', 'operatorId', 'CONTAINS_MY_NUMBER', (b) => (b.operatorId = validMyNumber(99))],
    ];

    it.each(cases)('%s → 422 at %s with %s, nothing stored', async (_label, path, code, mutate) => {
      const body = linkageBody(validMyNumber(++seed), { accounts: [nextAccount()] }) as Record<string, any>;
      mutate(body);
      const before = await counts();
      const res = await t.http.post('/v1/linkages').set(bank.auth).send(body).expect(422);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.errors).toContainEqual({ path, code, message: expect.any(String) });
      expect(res.body.code).toBe(code === 'INVALID_MY_NUMBER' ? 'INVALID_MY_NUMBER' : 'VALIDATION_FAILED');
      expect(JSON.stringify(res.body)).not.toMatch(/\d{12}/);
      expect(await counts()).toEqual(before);
    });

    it('malformed JSON → 400 MALFORMED_JSON without echoing the body', async () => {
      const myNumber = nextNumber();
      const res = await t.http
        .post('/v1/linkages')
        .set(bank.auth)
        .set('content-type', 'application/json')
        .send(`{"subject": {"myNumber": "${myNumber}"`)
        .expect(400);
      expect(res.body.code).toBe('MALFORMED_JSON');
      expect(JSON.stringify(res.body)).not.toContain(myNumber);
    });

    it('an oversized body → 413 PAYLOAD_TOO_LARGE', async () => {
      const body = linkageBody(nextNumber(), { operatorId: 'x'.repeat(100_000) });
      const res = await t.http.post('/v1/linkages').set(bank.auth).send(body).expect(413);
      expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('a body that is not JSON → 415, a JSON array → 422', async () => {
      await t.http.post('/v1/linkages').set(bank.auth).set('content-type', 'text/plain').send('hello').expect(415);
      const res = await t.http.post('/v1/linkages').set(bank.auth).send([1, 2]).expect(422);
      expect(res.body.errors).toEqual([{ path: '', code: 'INVALID_TYPE', message: expect.any(String) }]);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the same answer for the same key and body, with one set of rows', async () => {
      const body = linkageBody(nextNumber(), { accounts: [nextAccount()] });
      const first = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'key-replay-1').send(body).expect(201);
      const before = await counts();
      const again = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'key-replay-1').send(body).expect(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(await counts()).toEqual(before);
    });

    it('50 concurrent replays of one key give one answer and one set of rows', async () => {
      const body = linkageBody(nextNumber(), { accounts: [nextAccount(), nextAccount()] });
      const before = await counts();
      const results = await Promise.all(
        Array.from({ length: 50 }, () => t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'key-concurrent-50').send(body)),
      );
      expect(results.map((r) => r.status)).toEqual(Array(50).fill(201));
      const ids = new Set(results.map((r) => r.body.id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
      const after = await counts();
      expect(after).toEqual({
        subjects: before.subjects + 1,
        attachments: before.attachments + 1,
        linkages: before.linkages + 2,
        audit: before.audit + 1,
        idempotency: before.idempotency + 1,
      });
    });

    it('refuses the same key with a different body', async () => {
      const body = linkageBody(nextNumber(), { accounts: [nextAccount()] });
      await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'key-mismatch').send(body).expect(201);
      const res = await t.http
        .post('/v1/linkages')
        .set(bank.auth)
        .set('Idempotency-Key', 'key-mismatch')
        .send({ ...body, accounts: [nextAccount()] })
        .expect(422);
      expect(res.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    });

    it('keys are per institution', async () => {
      const other = await t.createInstitution('0009');
      const body = linkageBody(nextNumber(), { accounts: [nextAccount()] });
      const a = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'shared-key').send(body).expect(201);
      const b = await t.http.post('/v1/linkages').set(other.auth).set('Idempotency-Key', 'shared-key').send(body).expect(201);
      expect(b.body.id).not.toBe(a.body.id);
      expect(b.headers['idempotent-replayed']).toBeUndefined();
    });

    it('a key past its time to live is a new key, and the worker purges expired keys', async () => {
      const body = linkageBody(nextNumber(), { accounts: [nextAccount()] });
      await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'key-expiring').send(body).expect(201);
      const age = (hours: number) =>
        t.db.pool.query(`UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $1) WHERE idempotency_key = $2`, [
          hours,
          t.app.get(IdempotencyService).storedKey('POST /v1/linkages', 'key-expiring'),
        ]);
      await age(t.config.IDEMPOTENCY_TTL_HOURS + 1);
      const other = linkageBody(nextNumber(), { accounts: [nextAccount()] });
      const fresh = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'key-expiring').send(other).expect(201);
      expect(fresh.headers['idempotent-replayed']).toBeUndefined();

      await age(t.config.IDEMPOTENCY_TTL_HOURS + 1);
      const worker = await t.startWorker();
      const purged = await worker.get(IdempotencyRepository).purgeOlderThan(t.config.IDEMPOTENCY_TTL_HOURS, 100);
      expect(purged).toBeGreaterThanOrEqual(1);
      const left = await t.db.pool.query(`SELECT 1 FROM idempotency_keys WHERE idempotency_key = $1`, [
        t.app.get(IdempotencyService).storedKey('POST /v1/linkages', 'key-expiring'),
      ]);
      expect(left.rowCount).toBe(0);
    });

    it('a malformed key → 400 INVALID_IDEMPOTENCY_KEY', async () => {
      const res = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'x'.repeat(300)).send(linkageBody(nextNumber())).expect(400);
      expect(res.body.code).toBe('INVALID_IDEMPOTENCY_KEY');
    });
  });

  describe('read, find, revoke', () => {
    it('reads one linkage by id', async () => {
      const myNumber = nextNumber();
      const created = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(myNumber, { accounts: [nextAccount()] })).expect(201);
      const id = created.body.linkages[0].id;
      const res = await t.http.get(`/v1/linkages/${id}`).set(bank.auth).expect(200);
      expect(res.body).toMatchObject({
        id,
        attachmentId: created.body.id,
        status: 'active',
        subject: { id: created.body.subject.id, myNumberMasked: `********${myNumber.slice(-4)}` },
        revocation: null,
      });
    });

    it('answers 404 for an unknown or malformed id', async () => {
      await t.http.get('/v1/linkages/00000000-0000-4000-8000-000000000000').set(bank.auth).expect(404);
      const res = await t.http.get('/v1/linkages/not-a-uuid').set(bank.auth).expect(404);
      expect(res.body.code).toBe('NOT_FOUND');
    });

    it('finds by account, revokes with a reason, keeps the row, and allows a new linkage after', async () => {
      const account = nextAccount();
      const first = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(nextNumber(), { accounts: [account] })).expect(201);
      const id = first.body.linkages[0].id;

      const found = await t.http.get('/v1/linkages').query(account).set(bank.auth).expect(200);
      expect(found.body.items.map((i: { id: string }) => i.id)).toEqual([id]);

      const revoked = await t.http
        .post(`/v1/linkages/${id}/revocation`)
        .set(bank.auth)
        .send({ reason: 'attached-in-error', note: 'wrong customer', branchCode: '002', operatorId: 'T0099' })
        .expect(200);
      expect(revoked.body).toMatchObject({
        status: 'revoked',
        revocation: { reason: 'attached-in-error', note: 'wrong customer', branchCode: '002', operatorId: 'T0099', revokedAt: expect.any(String) },
      });
      const again = await t.http.post(`/v1/linkages/${id}/revocation`).set(bank.auth).send({ reason: 'other', branchCode: '002', operatorId: 'T0099' }).expect(409);
      expect(again.body.code).toBe('LINKAGE_ALREADY_REVOKED');

      // The account is free for another number now; the revoked row stays as history.
      const second = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(nextNumber(), { accounts: [account] })).expect(201);
      const history = await t.http.get('/v1/linkages').query(account).set(bank.auth).expect(200);
      expect(history.body.items.map((i: { id: string; status: string }) => [i.id, i.status])).toEqual([
        [second.body.linkages[0].id, 'active'],
        [id, 'revoked'],
      ]);
      const active = await t.http.get('/v1/linkages').query({ ...account, status: 'active' }).set(bank.auth).expect(200);
      expect(active.body.items).toHaveLength(1);
      expect((await t.db.pool.query('SELECT status FROM linkages WHERE id = $1', [id])).rows).toEqual([{ status: 'revoked' }]);
    });

    it('validates the find query and the revocation body', async () => {
      const q = await t.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary' }).set(bank.auth).expect(422);
      expect(q.body.errors).toContainEqual({ path: 'accountNumber', code: 'REQUIRED', message: expect.any(String) });
      const created = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(nextNumber(), { accounts: [nextAccount()] })).expect(201);
      const r = await t.http
        .post(`/v1/linkages/${created.body.linkages[0].id}/revocation`)
        .set(bank.auth)
        .send({ reason: 'because', note: `number ${validMyNumber(5)}`, branchCode: '002', operatorId: 'T1' })
        .expect(422);
      expect(r.body.errors.map((e: { path: string; code: string }) => [e.path, e.code])).toEqual([
        ['reason', 'INVALID_VALUE'],
        ['note', 'CONTAINS_MY_NUMBER'],
      ]);
      expect(JSON.stringify(r.body)).not.toContain(validMyNumber(5));
    });
  });
});
