import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HostedNumbering, type NumberingOrigin, type NumberingSubject } from '../../src/numbering/hosted-numbering.js';
import { linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { validMyNumber } from './support/my-numbers.js';
import { registerRows, seedRegister } from './support/register.js';
import { linkageWriteCounts } from './support/test-database.js';

/**
 * Numbering at hosted institutions (他行付番, the target side), driven through the
 * service as the numbering fan-out and the peer endpoint call it.
 */
describe('HostedNumbering', () => {
  let t: TestApp;
  let numbering: HostedNumbering;
  let target: TestInstitution; // has a register
  let other: TestInstitution; // has a register too
  let bare: TestInstitution; // has none
  let seed = 5000;
  const nextNumber = () => validMyNumber(++seed);
  const row = registerRows(1000, {
    branchCode: '001',
    accountType: 'ordinary',
    customerNumber: 'C0001',
    nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
    birthDate: '1980-04-01',
    address: '千代田区霞ケ関１－２－３',
  });

  beforeAll(async () => {
    t = await startTestApp();
    target = await t.createInstitution('0005');
    other = await t.createInstitution('0006');
    bare = await t.createInstitution('0009');
    await t.createInstitution('0001'); // the originating institution
    numbering = t.app.get(HostedNumbering);
    // Something unrelated in the other register, so that it counts as having one.
    await seedRegister(t.db, other.id, [row({ customerNumber: 'C-OTHER', nameKana: 'ﾍﾞﾂﾆﾝ', address: '大阪市北区1-1' })]);
  });
  afterAll(() => t.close());

  /** A depositor of its own per test: a distinct name keeps tests apart in one register. */
  function subject(nameKana: string, overrides: Partial<NumberingSubject> = {}): NumberingSubject {
    return { myNumber: nextNumber(), nameKana, birthDate: '1980-04-01', address: '東京都千代田区霞が関1丁目2番3号', ...overrides };
  }

  function origin(overrides: Partial<NumberingOrigin> = {}): NumberingOrigin {
    return {
      requestId: randomUUID(),
      nodeId: null,
      institutionCode: '0001',
      branchCode: '101',
      operatorId: 'T0777',
      numberDocument: 'my-number-card',
      identityDocument: 'drivers-license',
      consentAt: new Date(Date.now() - 60_000).toISOString(),
      ...overrides,
    };
  }

  const counts = () => linkageWriteCounts(t.db);

  it("matches one customer (address folded for width and variants) and attaches all that customer's open accounts", async () => {
    const accounts = [
      row({ nameKana: 'ｲﾁﾛｳ ﾀﾛｳ', customerNumber: 'C1001' }),
      row({ nameKana: 'ｲﾁﾛｳ ﾀﾛｳ', customerNumber: 'C1001', branchCode: '002', accountType: 'savings' }),
      // The same customer, its address not updated on this account: still theirs.
      row({ nameKana: 'ｲﾁﾛｳ ﾀﾛｳ', customerNumber: 'C1001', address: '横浜市中区1-1', branchCode: '003' }),
    ];
    const closed = row({ nameKana: 'ｲﾁﾛｳ ﾀﾛｳ', customerNumber: 'C1001', status: 'closed' });
    await seedRegister(t.db, target.id, [...accounts, closed]);
    const s = subject('イチロウ　タロウ');
    const o = origin();

    const results = await numbering.apply(s, o, ['0005']);

    expect(results).toEqual([{ code: '0005', status: 'attached', accounts: 3 }]);
    const linked = await t.db.query(
      `SELECT l.branch_code, l.account_type, l.account_number, a.api_key_id, a.numbering_request_id, a.origin_node_id,
              a.origin_institution_code, a.branch_code AS a_branch, a.operator_id AS a_operator
         FROM linkages l JOIN attachments a ON a.id = l.attachment_id
        WHERE l.institution_id = $1 AND a.numbering_request_id = $2
        ORDER BY l.branch_code`,
      [target.id, o.requestId],
    );
    expect(linked.map((l) => l.account_number)).toEqual(accounts.map((a) => a.accountNumber));
    expect(linked.map((l) => l.account_number)).not.toContain(closed.accountNumber);
    expect(linked[0]).toMatchObject({
      api_key_id: null,
      origin_node_id: null,
      origin_institution_code: '0001',
      a_branch: '101',
      a_operator: 'T0777',
    });

    const audit = await t.db.query(
      `SELECT institution_id, actor_type, api_key_id, branch_code, operator_id, request_id, action, resource_type, details
         FROM audit_events WHERE action = 'numbering.attach' AND request_id = $1`,
      [o.requestId],
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      institution_id: target.id,
      actor_type: 'institution',
      api_key_id: null,
      branch_code: '101',
      operator_id: 'T0777',
      resource_type: 'attachment',
      details: {
        created: 3,
        alreadyLinked: 0,
        numberDocument: 'my-number-card',
        identityDocument: 'drivers-license',
        origin: { requestId: o.requestId, nodeId: null, institutionCode: '0001', branchCode: '101', operatorId: 'T0777' },
      },
    });
    expect(JSON.stringify(audit)).not.toContain(s.myNumber);
  });

  it('a request from a peer node is audited with actor type peer and the node recorded', async () => {
    await seedRegister(t.db, target.id, [row({ nameKana: 'ﾋﾟｱ ﾊﾅｺ', customerNumber: 'C1101' })]);
    const o = origin({ nodeId: 'node-remote-1', institutionCode: '0042' });
    expect(await numbering.apply(subject('ピア ハナコ'), o, ['0005'])).toEqual([{ code: '0005', status: 'attached', accounts: 1 }]);
    const [attachment] = await t.db.query(
      `SELECT origin_node_id, origin_institution_code FROM attachments WHERE numbering_request_id = $1`,
      [o.requestId],
    );
    expect(attachment).toEqual({ origin_node_id: 'node-remote-1', origin_institution_code: '0042' });
    const [audit] = await t.db.query(`SELECT actor_type, institution_id, details FROM audit_events WHERE request_id = $1`, [o.requestId]);
    expect(audit).toMatchObject({ actor_type: 'peer', institution_id: target.id, details: { origin: { nodeId: 'node-remote-1' } } });
  });

  it('no-match: no candidate (another birth date, another address, a closed account) and no register', async () => {
    await seedRegister(t.db, target.id, [
      row({ nameKana: 'ﾉｰﾏｯﾁ ｲﾁ', customerNumber: 'C1201', birthDate: '1981-04-01' }),
      row({ nameKana: 'ﾉｰﾏｯﾁ ｲﾁ', customerNumber: 'C1202', address: '千代田区霞ケ関1-2-4' }),
      row({ nameKana: 'ﾉｰﾏｯﾁ ｲﾁ', customerNumber: 'C1203', status: 'closed' }),
    ]);
    const before = await counts();
    const results = await numbering.apply(subject('ノーマッチ イチ'), origin(), ['0009', '0005', '0006']);
    expect(results).toEqual([
      { code: '0005', status: 'no-match', reason: 'no-candidate' },
      { code: '0006', status: 'no-match', reason: 'no-candidate' },
      { code: '0009', status: 'no-match', reason: 'no-register' },
    ]);
    expect(await counts()).toEqual(before);
  });

  it('leaves out codes that are not hosted here', async () => {
    expect(await numbering.apply(subject('ダレモ イナイ'), origin(), ['0999', '0009'])).toEqual([
      { code: '0009', status: 'no-match', reason: 'no-register' },
    ]);
    expect(await numbering.apply(subject('ダレモ イナイ'), origin(), ['0999'])).toEqual([]);
    expect(await numbering.apply(subject('ダレモ イナイ'), origin(), [])).toEqual([]);
  });

  it('ambiguous: two customers match, nothing is attached', async () => {
    await seedRegister(t.db, target.id, [
      row({ nameKana: 'ﾌﾀﾘ ｼﾞﾛｳ', customerNumber: 'C1301' }),
      row({ nameKana: 'ﾌﾀﾘ ｼﾞﾛｳ', customerNumber: 'C1302', address: '千代田区霞ヶ関一丁目2番3号' }),
    ]);
    const before = await counts();
    expect(await numbering.apply(subject('フタリ ジロウ'), origin(), ['0005'])).toEqual([
      { code: '0005', status: 'ambiguous', reason: 'several-customers' },
    ]);
    expect(await counts()).toEqual(before);
  });

  it('is idempotent per request and target: a re-run attaches nothing new and answers the same, even after the register changed', async () => {
    const accounts = [row({ nameKana: 'ﾆﾄﾞ ｻﾌﾞﾛｳ', customerNumber: 'C1401' }), row({ nameKana: 'ﾆﾄﾞ ｻﾌﾞﾛｳ', customerNumber: 'C1401' })];
    await seedRegister(t.db, target.id, accounts);
    const s = subject('ニド サブロウ');
    const o = origin();
    const first = await numbering.apply(s, o, ['0005', '0009']);
    expect(first).toEqual([
      { code: '0005', status: 'attached', accounts: 2 },
      { code: '0009', status: 'no-match', reason: 'no-register' },
    ]);
    const afterFirst = await counts();

    expect(await numbering.apply(s, o, ['0005', '0009'])).toEqual(first);
    // Two runs at once (a job retried while the first still runs) wait on one claim.
    const concurrent = await Promise.all([numbering.apply(s, o, ['0005']), numbering.apply(s, o, ['0005'])]);
    expect(concurrent).toEqual([[first[0]], [first[0]]]);
    // A second customer of the same name now matches: the request already attached, and stays so.
    const namesake = row({ nameKana: 'ﾆﾄﾞ ｻﾌﾞﾛｳ', customerNumber: 'C1402' });
    await seedRegister(t.db, target.id, [namesake]);
    expect(await numbering.apply(s, o, ['0005'])).toEqual([first[0]]);
    expect(await counts()).toEqual(afterFirst);

    // Another request for the same depositor is a new attachment: the accounts are already theirs.
    const again = origin();
    await seedRegister(t.db, target.id, [{ ...namesake, status: 'closed' }]);
    const [result] = await numbering.apply(s, again, ['0005']);
    expect(result).toEqual({ code: '0005', status: 'attached', accounts: 2 });
    const after = await counts();
    expect(after.linkages).toBe(afterFirst.linkages);
    expect(after.attachments).toBe(afterFirst.attachments + 1);
  });

  it('a request id reused by its origin for another depositor attaches nothing', async () => {
    await seedRegister(t.db, target.id, [
      row({ nameKana: 'ｻｲﾖｳ ｲﾁ', customerNumber: 'C1501' }),
      row({ nameKana: 'ｻｲﾖｳ ﾆ', customerNumber: 'C1502' }),
    ]);
    const o = origin({ nodeId: 'node-remote-2' });
    expect(await numbering.apply(subject('サイヨウ イチ'), o, ['0005'])).toEqual([{ code: '0005', status: 'attached', accounts: 1 }]);
    const before = await counts();
    expect(await numbering.apply(subject('サイヨウ ニ'), o, ['0005'])).toEqual([
      { code: '0005', status: 'ambiguous', reason: 'request-id-reused' },
    ]);
    expect(await counts()).toEqual(before);
  });

  it('an account linked to another number: ambiguous, nothing attached', async () => {
    const mine = row({ nameKana: 'ｶﾌﾞﾘ ｼﾛｳ', customerNumber: 'C1601' });
    const taken = row({ nameKana: 'ｶﾌﾞﾘ ｼﾛｳ', customerNumber: 'C1601' });
    await seedRegister(t.db, target.id, [mine, taken]);
    const { branchCode, accountType, accountNumber } = taken;
    // A namesake's number was attached to it (the register allows it: same name and birth date).
    const namesake = { myNumber: nextNumber(), nameKana: 'ｶﾌﾞﾘ ｼﾛｳ', birthDate: '1980-04-01' };
    await t.http
      .post('/v1/linkages')
      .set(target.auth)
      .send(linkageBody(namesake.myNumber, { subject: namesake, accounts: [{ branchCode, accountType, accountNumber }] }))
      .expect(201);
    const before = await counts();
    const o = origin();
    expect(await numbering.apply(subject('カブリ シロウ'), o, ['0005'])).toEqual([
      { code: '0005', status: 'ambiguous', reason: 'account-linked-to-other-subject' },
    ]);
    expect(await counts()).toEqual(before);
  });

  it('the number held at the target with another birth date: ambiguous, nothing attached', async () => {
    const elder = row({ nameKana: 'ﾀﾝｼﾞｮｳ ｺﾞﾛｳ', customerNumber: 'C1702', birthDate: '1970-01-01' });
    await seedRegister(t.db, target.id, [row({ nameKana: 'ﾀﾝｼﾞｮｳ ｺﾞﾛｳ', customerNumber: 'C1701' }), elder]);
    const s = subject('タンジョウ ゴロウ');
    // A teller attached this number at the target to a namesake born in 1970.
    await t.http
      .post('/v1/linkages')
      .set(target.auth)
      .send(linkageBody(s.myNumber, {
        subject: { myNumber: s.myNumber, nameKana: s.nameKana, birthDate: '1970-01-01' },
        accounts: [{ branchCode: elder.branchCode, accountType: elder.accountType, accountNumber: elder.accountNumber }],
      }))
      .expect(201);
    const before = await counts();
    expect(await numbering.apply(s, origin(), ['0005'])).toEqual([
      { code: '0005', status: 'ambiguous', reason: 'birth-date-mismatch' },
    ]);
    expect(await counts()).toEqual(before);
  });

  it("a teller's linkage is still audited as linkage.attach with the key, and no origin", async () => {
    const res = await t.http.post('/v1/linkages').set(bare.auth).set('Idempotency-Key', randomUUID())
      .send(linkageBody(nextNumber(), { accounts: [{ branchCode: '008', accountType: 'ordinary', accountNumber: row().accountNumber }] }))
      .expect(201);
    const [audit] = await t.db.query(`SELECT actor_type, action, api_key_id, details FROM audit_events WHERE resource_id = $1`, [res.body.id]);
    expect(audit).toMatchObject({ actor_type: 'institution', action: 'linkage.attach', api_key_id: expect.any(String) });
    expect(audit.details).not.toHaveProperty('origin');
    const [attachment] = await t.db.query(`SELECT numbering_request_id, origin_institution_code FROM attachments WHERE id = $1`, [res.body.id]);
    expect(attachment).toEqual({ numbering_request_id: null, origin_institution_code: null });
  });
});
