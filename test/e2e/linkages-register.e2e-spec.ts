import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { validMyNumber } from './support/my-numbers.js';
import { registerRows, seedRegister, type RegisterRowInput } from './support/register.js';
import { linkageWriteCounts } from './support/test-database.js';

/** POST /v1/linkages at an institution that has an account register, and at one that has none. */
describe('linkages against the account register', () => {
  let t: TestApp;
  let bank: TestInstitution; // has a register
  let plain: TestInstitution; // has none
  let seed = 7000;
  const nextNumber = () => validMyNumber(++seed);
  const row = registerRows(3000, {
    branchCode: '001',
    accountType: 'ordinary',
    customerNumber: 'C0001',
    nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
    birthDate: '1980-04-01',
    address: '千代田区霞が関1-2-3',
  });
  const ref = ({ branchCode, accountType, accountNumber }: RegisterRowInput) => ({ branchCode, accountType, accountNumber });
  const subject = (nameKana: string, birthDate = '1980-04-01') => ({ myNumber: nextNumber(), nameKana, birthDate });

  // Seeded before the first request, so that the cached "has a register" is right from the start.
  const suzuki = [row({ nameKana: 'ｽｽﾞｷ ｲﾁﾛｳ', customerNumber: 'C100' }), row({ nameKana: 'ｽｽﾞｷ ｲﾁﾛｳ', customerNumber: 'C100', branchCode: '002', accountType: 'savings' })];
  const suzukiClosed = row({ nameKana: 'ｽｽﾞｷ ｲﾁﾛｳ', customerNumber: 'C100', status: 'closed' });
  const tanaka = row({ nameKana: 'ﾀﾅｶ ﾊﾅｺ', customerNumber: 'C200', birthDate: '1975-12-31' });
  const twins = [row({ nameKana: 'ｻﾄｳ ｼﾞﾛｳ', customerNumber: 'C301' }), row({ nameKana: 'ｻﾄｳ ｼﾞﾛｳ', customerNumber: 'C302' })];
  const replayed = [row({ nameKana: 'ｲﾄｳ ｻﾌﾞﾛｳ', customerNumber: 'C400' }), row({ nameKana: 'ｲﾄｳ ｻﾌﾞﾛｳ', customerNumber: 'C400' })];
  const free = Array.from({ length: 6 }, () => row({ nameKana: 'ﾜﾀﾅﾍﾞ ｼﾛｳ', customerNumber: 'C500' }));

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
    plain = await t.createInstitution('0007');
    await seedRegister(t.db, bank.id, [...suzuki, suzukiClosed, tanaka, ...twins, ...replayed, ...free]);
  });
  afterAll(() => t.close());

  const counts = () => linkageWriteCounts(t.db);
  const post = (institution: TestInstitution, body: Record<string, unknown>, key?: string) => {
    const req = t.http.post('/v1/linkages').set(institution.auth);
    if (key) void req.set('Idempotency-Key', key);
    return req.send(body);
  };

  describe('listed accounts', () => {
    it("attaches accounts that are in the register, open and the subject's (name compared without width or spaces)", async () => {
      const res = await post(bank, linkageBody('', { subject: subject('スズキイチロウ'), accounts: suzuki.map(ref) })).expect(201);
      expect(res.body.linkages.map((l: { accountNumber: string }) => l.accountNumber)).toEqual(suzuki.map((a) => a.accountNumber));
    });

    it.each<[string, () => Record<string, unknown>, number, string, () => RegisterRowInput]>([
      ['an account missing from the register', () => ({ subject: subject('ﾜﾀﾅﾍﾞ ｼﾛｳ'), accounts: [ref(free[0]), { branchCode: '009', accountType: 'ordinary', accountNumber: '9999999' }] }), 422, 'ACCOUNT_NOT_IN_REGISTER', () => ({ ...free[0], branchCode: '009', accountType: 'ordinary', accountNumber: '9999999' })],
      ['a closed account', () => ({ subject: subject('ｽｽﾞｷ ｲﾁﾛｳ'), accounts: [ref(suzukiClosed)] }), 409, 'ACCOUNT_CLOSED', () => suzukiClosed],
      ["another holder's account (name)", () => ({ subject: subject('ﾜﾀﾅﾍﾞ ｼﾛｳ'), accounts: [ref(free[1]), ref(tanaka)] }), 409, 'ACCOUNT_HOLDER_MISMATCH', () => tanaka],
      ["another holder's account (birth date)", () => ({ subject: subject('ﾀﾅｶ ﾊﾅｺ', '1975-12-30'), accounts: [ref(tanaka)] }), 409, 'ACCOUNT_HOLDER_MISMATCH', () => tanaka],
    ])('refuses %s, naming the account but not the holder, and writes nothing', async (_case, overrides, status, code, account) => {
      const before = await counts();
      const body = linkageBody('', overrides());
      const res = await post(bank, body).expect(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code, status, account: ref(account()) });
      const text = JSON.stringify(res.body);
      expect(text).not.toContain((body.subject as { myNumber: string }).myNumber);
      // The register's holder data is not the caller's to read.
      for (const holder of [tanaka.nameKana, 'ﾀﾅｶ', tanaka.birthDate, tanaka.customerNumber, tanaka.address]) {
        expect(text).not.toContain(holder);
      }
      expect(await counts()).toEqual(before);
    });
  });

  describe('accounts: "all"', () => {
    it("attaches every open account of the depositor's one customer number", async () => {
      const before = await counts();
      const s = subject('ﾜﾀﾅﾍﾞ ｼﾛｳ');
      const res = await post(bank, linkageBody('', { subject: s, accounts: 'all' })).expect(201);
      expect(res.body).toMatchObject({ subject: { myNumberMasked: `********${s.myNumber.slice(-4)}`, nameKana: 'ﾜﾀﾅﾍﾞ ｼﾛｳ' } });
      expect(res.body.linkages).toEqual(
        free.map((a) => ({ id: expect.any(String), ...ref(a), status: 'active', createdAt: expect.any(String), alreadyLinked: false })),
      );
      const after = await counts();
      expect(after.linkages).toBe(before.linkages + free.length);
      const [audit] = await t.db.query(`SELECT action, details FROM audit_events WHERE resource_id = $1`, [res.body.id]);
      expect(audit).toMatchObject({ action: 'linkage.attach', details: { created: free.length } });
    });

    it("leaves out a closed account and includes those already the subject's", async () => {
      const other = [row({ nameKana: 'ｺﾊﾞﾔｼ ｺﾞﾛｳ', customerNumber: 'C600' }), row({ nameKana: 'ｺﾊﾞﾔｼ ｺﾞﾛｳ', customerNumber: 'C600' })];
      const closed = row({ nameKana: 'ｺﾊﾞﾔｼ ｺﾞﾛｳ', customerNumber: 'C600', status: 'closed' });
      await seedRegister(t.db, bank.id, [...other, closed]);
      const k = subject('ｺﾊﾞﾔｼ ｺﾞﾛｳ');
      await post(bank, linkageBody('', { subject: k, accounts: [ref(other[0])] })).expect(201);
      const res = await post(bank, linkageBody('', { subject: k, accounts: 'all' })).expect(201);
      expect(res.body.linkages.map((l: { accountNumber: string; alreadyLinked: boolean }) => [l.accountNumber, l.alreadyLinked])).toEqual([
        [other[0].accountNumber, true],
        [other[1].accountNumber, false],
      ]);
    });

    it.each<[string, () => TestInstitution, () => Record<string, unknown>, number, string]>([
      ['several customers share the name and birth date', () => bank, () => subject('ｻﾄｳ ｼﾞﾛｳ'), 409, 'REGISTER_HOLDER_AMBIGUOUS'],
      ['the holder has no open account', () => bank, () => subject('ﾀﾅｶ ﾊﾅｺ', '1975-12-30'), 422, 'NO_ACCOUNTS_IN_REGISTER'],
      ['the institution has no register', () => plain, () => subject('ﾀﾅｶ ﾊﾅｺ', '1975-12-31'), 422, 'REGISTER_REQUIRED'],
    ])('refuses when %s, and writes nothing', async (_case, institution, s, status, code) => {
      const before = await counts();
      const res = await post(institution(), linkageBody('', { subject: s(), accounts: 'all' })).expect(status);
      expect(res.body).toMatchObject({ code, status });
      for (const holder of ['C301', 'C302', '千代田']) expect(JSON.stringify(res.body)).not.toContain(holder);
      expect(await counts()).toEqual(before);
    });

    it('replays with the same Idempotency-Key, refuses the key with another body', async () => {
      const key = randomUUID();
      const body = linkageBody('', { subject: subject('ｲﾄｳ ｻﾌﾞﾛｳ'), accounts: 'all' });
      const first = await post(bank, body, key).expect(201);
      expect(first.body.linkages).toHaveLength(2);
      const before = await counts();
      const again = await post(bank, body, key).expect(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(first.body);
      const other = await post(bank, { ...body, operatorId: 'T9999' }, key).expect(422);
      expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await counts()).toEqual(before);
    });
  });

  it('a replay answers as the first time even if the register changed since (an account closed)', async () => {
    const mine = row({ nameKana: 'ﾔﾏﾓﾄ ﾛｸﾛｳ', customerNumber: 'C700' });
    await seedRegister(t.db, bank.id, [mine]);
    const key = randomUUID();
    const body = linkageBody('', { subject: subject('ﾔﾏﾓﾄ ﾛｸﾛｳ'), accounts: [ref(mine)] });
    const first = await post(bank, body, key).expect(201);
    await seedRegister(t.db, bank.id, [{ ...mine, status: 'closed' }]);
    const before = await counts();
    const again = await post(bank, body, key).expect(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    // Without the key, the same request is now refused.
    expect((await post(bank, body).expect(409)).body.code).toBe('ACCOUNT_CLOSED');
    // And "all" with a key never used is refused as before.
    expect((await post(bank, { ...body, accounts: 'all' }, randomUUID()).expect(422)).body.code).toBe('NO_ACCOUNTS_IN_REGISTER');
    expect(await counts()).toEqual(before);
  });

  it('an institution without a register attaches any account, as before', async () => {
    const accounts = [{ branchCode: '001', accountType: 'ordinary', accountNumber: row().accountNumber }];
    const res = await post(plain, linkageBody(nextNumber(), { accounts })).expect(201);
    expect(res.body.linkages).toEqual([expect.objectContaining({ ...accounts[0], alreadyLinked: false })]);
  });

  it('documents accounts as "all" or a list in the OpenAPI document, with the new problems', async () => {
    const doc = (await t.http.get('/docs/openapi.json').expect(200)).body;
    const schema = doc.components.schemas.CreateLinkageDto.properties.accounts;
    expect(schema.oneOf).toEqual([
      expect.objectContaining({ type: 'string', enum: ['all'] }),
      expect.objectContaining({ type: 'array', items: { $ref: '#/components/schemas/AccountDto' } }),
    ]);
    const text = JSON.stringify(doc.paths['/v1/linkages'].post.responses);
    for (const code of ['ACCOUNT_NOT_IN_REGISTER', 'ACCOUNT_CLOSED', 'ACCOUNT_HOLDER_MISMATCH', 'REGISTER_REQUIRED', 'NO_ACCOUNTS_IN_REGISTER', 'REGISTER_HOLDER_AMBIGUOUS']) {
      expect(text).toContain(code);
    }
  });
});
