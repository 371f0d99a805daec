import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { eventually, linkageBody, queueKeysPattern, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { databaseText } from './support/database-text.js';
import { disasterBody, finalInquiryResponse, inheritanceBody } from './support/inquiries.js';
import { inClearForm, invalidMyNumber, spellings, validMyNumber } from './support/my-numbers.js';
import { seedRegister } from './support/register.js';
import { HostedNumbering } from '../../src/numbering/hosted-numbering.js';

/**
 * Sends My Numbers through every endpoint, in valid and invalid requests, then looks
 * for any of them, in clear, in every column of every table, in every captured log
 * line and in every Redis key and value the service wrote.
 */
describe('a My Number is never stored, logged, queued or returned in clear', () => {
  let t: TestApp;
  let bank: TestInstitution;
  const sent: string[] = [];
  /** Numbers sent in the spellings people type; looked for in clear form (see inClearForm). */
  const spelled: string[] = [];
  const responses: string[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { LOG_LEVEL: 'debug' } });
    await t.startWorker();
    bank = await t.createInstitution('0005');
    const record = (res: { text: string; headers: Record<string, unknown> }) => responses.push(res.text + JSON.stringify(res.headers));
    const number = (seed: number) => {
      const n = validMyNumber(seed);
      sent.push(n);
      return n;
    };
    const wrong = (seed: number) => {
      const n = invalidMyNumber(seed);
      sent.push(n);
      return n;
    };

    // Valid attachments, a replay, a re-link, a conflict.
    const created = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'k1').send(linkageBody(number(111))).expect(201);
    record(created);
    record(await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'k1').send(linkageBody(sent[0])));
    record(await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(sent[0])));
    record(await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(number(222))));
    // Invalid requests carrying numbers in every place a caller could put one.
    record(await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(wrong(333))));
    record(await t.http.post('/v1/linkages').set(bank.auth).send({ ...linkageBody(number(444)), consentAt: 'tomorrow' }));
    record(await t.http.post('/v1/linkages').set(bank.auth).send({ ...linkageBody(number(555)), extra: number(556) }));
    record(await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(number(666), { operatorId: number(667) })));
    record(await t.http.post('/v1/linkages').set(bank.auth).set('content-type', 'application/json').send(`{"subject":{"myNumber":"${number(777)}"`));
    // A number as the Idempotency-Key, on a request that succeeds (so that the key is kept).
    const ownAccount = { accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '0778778' }] };
    record(await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', number(778)).send(linkageBody(number(779), ownAccount)).expect(201));
    record(await t.http.post('/v1/inquiries').set(bank.auth).set('Idempotency-Key', sent.at(-2)!).send(inheritanceBody(sent.at(-1)!)).expect(202));
    record(await t.http.post('/v1/linkages').set(bank.auth).set('X-Request-Id', number(780)).send(linkageBody(number(781))));
    record(await t.http.post('/v1/linkages').set({ Authorization: `Bearer ${number(888)}` }).send(linkageBody(number(889))));
    record(await t.http.get(`/v1/linkages/${number(990)}`).set(bank.auth));
    record(await t.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary', accountNumber: number(991) }).set(bank.auth));
    record(await t.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }).set(bank.auth).set('X-Operator-Id', number(992)));
    const linkageId = created.body.linkages[0].id;
    record(await t.http.get(`/v1/linkages/${linkageId}`).set(bank.auth));
    record(await t.http.post(`/v1/linkages/${linkageId}/revocation`).set(bank.auth).send({ reason: 'other', note: number(993), branchCode: '001', operatorId: 'T1' }));
    record(await t.http.post(`/v1/linkages/${linkageId}/revocation`).set(bank.auth).send({ reason: 'other', branchCode: '001', operatorId: 'T1' }));
    record(await t.http.post('/v1/institutions').set(t.admin).send({ code: '0006', name: `Bank ${number(994)}` }));
    record(await t.http.post('/v1/institutions/0005/api-keys').set(t.admin).send({ name: number(995), scopes: ['linkages:read'] }));
    record(await t.http.get('/v1/audit/verification').set(t.admin));
    record(await t.http.get(`/v1/nope/${number(996)}`));
    // The node-to-node route, sent what is not an envelope; a peer registration carrying numbers.
    record(await t.http.post('/v1/peer/location-queries').send({ queries: [{ ref: 'r', myNumber: number(997) }] }));
    record(await t.http.post('/v1/peers').set(t.admin).send({ nodeId: number(998), endpointUrl: `http://x/${number(999)}`, institutions: [{ code: '0007', name: number(1000) }] }));

    // Inquiries: accepted ones (run by the worker, through its queue), refused ones, reads.
    const inquiry = await t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(sent[0]));
    record(inquiry);
    record(await t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(number(1001), { targetInstitutions: ['0005'] })));
    record(await t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(wrong(1002))));
    record(await t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(number(1003), { applicant: { relationship: 'heir', name: number(1004) } })));
    record(await t.http.post('/v1/inquiries').set(bank.auth).send(disasterBody(number(1005))));
    record(await t.http.post('/v1/disaster-declarations').set(t.admin).send({ name: number(1006), municipalityCodes: ['17204'], startsAt: '2026-01-01T00:00:00Z', endsAt: '2027-01-01T00:00:00Z' }));
    record(await finalInquiryResponse(t, bank, inquiry.body.id));

    // An institution with an account register: checked attachments, accounts "all" (made,
    // replayed, refused), and numbering at it (attached, then refused for a conflict).
    const registered = await t.createInstitution('0008');
    const holder = { customerNumber: 'C1', nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ', birthDate: '1980-04-01', address: '千代田区霞が関1-2-3' };
    await seedRegister(t.db, registered.id, [
      { ...holder, branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' },
      { ...holder, branchCode: '002', accountType: 'savings', accountNumber: '0000001' },
      { ...holder, branchCode: '003', accountType: 'ordinary', accountNumber: '0000002', status: 'closed' },
    ]);
    record(await t.http.post('/v1/linkages').set(registered.auth).send(linkageBody(number(1101), { accounts: [{ branchCode: '003', accountType: 'ordinary', accountNumber: '0000002' }] })));
    record(await t.http.post('/v1/linkages').set(registered.auth).send(linkageBody(number(1102), { accounts: [{ branchCode: '009', accountType: 'ordinary', accountNumber: '0000009' }] })));
    const numberingSubject = { myNumber: number(1103), nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', address: '東京都千代田区霞が関1丁目2番3号' };
    const hosted = t.app.get(HostedNumbering);
    const origin = {
      requestId: '8a6e0f2e-2b7a-4c47-9d7e-3f1f1f6f0a01', nodeId: null, institutionCode: '0005', branchCode: '001',
      operatorId: 'T1', numberDocument: 'my-number-card', identityDocument: 'my-number-card', consentAt: new Date().toISOString(),
    };
    responses.push(JSON.stringify(await hosted.apply(numberingSubject, origin, ['0008', '0005'])));
    responses.push(JSON.stringify(await hosted.apply(numberingSubject, origin, ['0008'])));
    responses.push(JSON.stringify(await hosted.apply({ ...numberingSubject, myNumber: number(1104) }, { ...origin, nodeId: 'node-x' }, ['0008'])));
    record(await t.http.post('/v1/linkages').set(registered.auth).set('Idempotency-Key', 'all-1').send(linkageBody(numberingSubject.myNumber, { accounts: 'all' })));
    record(await t.http.post('/v1/linkages').set(registered.auth).set('Idempotency-Key', 'all-1').send(linkageBody(numberingSubject.myNumber, { accounts: 'all' })));
    record(await t.http.post('/v1/linkages').set(registered.auth).send(linkageBody(number(1105), { accounts: 'all' })));
    record(await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(number(1106), { accounts: 'all' })));

    // Numbering requests: one that attaches at a hosted target (through the worker's
    // fan-out), a replay, refused ones carrying numbers elsewhere, the final view.
    const target = await t.createInstitution('0011');
    await seedRegister(t.db, target.id, [
      { branchCode: '001', accountType: 'ordinary', accountNumber: '0077777', customerNumber: 'C1', nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ', birthDate: '1980-04-01', address: '千代田区1-1' },
    ]);
    const numberingBody = (myNumber: string, subject: Record<string, unknown> = {}, rest: Record<string, unknown> = {}) => ({
      branchCode: '001',
      operatorId: 'T0042',
      subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', address: '千代田区1-1', ...subject },
      verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' },
      consentAt: new Date(Date.now() - 60_000).toISOString(),
      targetInstitutions: ['0011'],
      ...rest,
    });
    const numbering = await t.http.post('/v1/numbering-requests').set(bank.auth).set('Idempotency-Key', 'n1').send(numberingBody(number(1201)));
    record(numbering);
    record(await t.http.post('/v1/numbering-requests').set(bank.auth).set('Idempotency-Key', 'n1').send(numberingBody(sent[sent.length - 1])));
    record(await t.http.post('/v1/numbering-requests').set(bank.auth).send(numberingBody(wrong(1202))));
    record(await t.http.post('/v1/numbering-requests').set(bank.auth).send(numberingBody(number(1203), { address: `千代田区 ${number(1204)}` })));
    record(await t.http.post('/v1/numbering-requests').set(bank.auth).send(numberingBody(number(1205), {}, { operatorId: number(1206) })));
    record(await t.http.post('/v1/numbering-requests').set(bank.auth).send(numberingBody(number(1207), {}, { targetInstitutions: [number(1208)] })));
    record(await t.http.get(`/v1/numbering-requests/${number(1209)}`).set(bank.auth));
    const numbered = await eventually(
      () => t.http.get(`/v1/numbering-requests/${numbering.body.id}`).set(bank.auth),
      (r) => r.status === 200 && r.body.status === 'completed',
    );
    expect(numbered.body.results).toEqual([expect.objectContaining({ institutionCode: '0011', status: 'attached', accounts: 1 })]);
    record(numbered);

    // The depositor's access history: found, paged, never seen, and refused requests.
    const historyBody = (myNumber: string, overrides: Record<string, unknown> = {}) => ({
      branchCode: '001',
      operatorId: 'T1',
      subject: { myNumber, birthDate: '1980-04-01' },
      verification: { identityDocument: 'passport' },
      ...overrides,
    });
    const history = await t.http.post('/v1/access-history').set(bank.auth).send(historyBody(sent[0], { limit: 1 }));
    expect(history.status).toBe(200);
    record(history);
    record(await t.http.post('/v1/access-history').set(bank.auth).send(historyBody(sent[0], { limit: 1, cursor: history.body.nextCursor })));
    record(await t.http.post('/v1/access-history').set(bank.auth).send(historyBody(number(1301))));
    record(await t.http.post('/v1/access-history').set(bank.auth).send(historyBody(wrong(1302))));
    record(await t.http.post('/v1/access-history').set(bank.auth).send(historyBody(number(1303), { operatorId: number(1304), cursor: number(1305) })));

    // The same places, with numbers typed as people type them: full-width, in groups.
    const typed = (seed: number, form: number) => {
      const n = validMyNumber(seed);
      spelled.push(n);
      return spellings(n)[form % spellings(n).length][1];
    };
    for (let form = 0; form < spellings('123456789018').length; form++) {
      const seed = 2000 + form * 10;
      record(await t.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary', accountNumber: typed(seed, form) }).set(bank.auth));
      record(await t.http.get(`/v1/nope/${encodeURIComponent(typed(seed + 1, form))}`));
      record(await t.http.post(`/v1/linkages/${linkageId}/revocation`).set(bank.auth).send({ reason: 'other', note: typed(seed + 2, form), branchCode: '001', operatorId: 'T1' }));
      record(await t.http.post('/v1/inquiries').set(bank.auth).send(inheritanceBody(number(seed + 3), { applicant: { relationship: 'heir', name: typed(seed + 4, form) } })));
      record(await t.http.post('/v1/linkages').set(bank.auth).set('content-type', 'application/json').send(`{"note":"${typed(seed + 5, form)}"`));
      record(await t.http.post('/v1/institutions').set(t.admin).send({ code: '0006', name: `Bank ${typed(seed + 6, form)}` }));
    }
    // ASCII spellings fit in headers: an operator id, a request id (echoed when harmless).
    for (const form of [0, 1, 2]) {
      const seed = 2500 + form * 10;
      record(await t.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }).set(bank.auth).set('X-Operator-Id', typed(seed, form)));
      record(await t.http.get(`/v1/linkages/${linkageId}`).set(bank.auth).set('X-Request-Id', `req-${typed(seed + 1, form).replace(/ /g, '-')}`));
    }

    // Let the worker seal the audit rows, so that its Redis keys and logs exist too.
    await eventually(
      async () => Number((await t.db.pool.query('SELECT count(*) FROM audit_chain')).rows[0].count),
      (sealed) => sealed > 0,
    );
  });
  afterAll(() => t.close());

  it('the requests really carried the numbers and the service really answered them', () => {
    expect(sent.length).toBeGreaterThan(20);
    expect(responses.length).toBe(54 + 6 * spellings('123456789018').length + 6);
    expect(spelled.length).toBeGreaterThan(50);
    // Numbering at the registered institution attached (and the conflict was refused).
    expect(responses).toContain(JSON.stringify([{ code: '0005', status: 'no-match', reason: 'no-register' }, { code: '0008', status: 'attached', accounts: 2 }]));
    expect(responses).toContain(JSON.stringify([{ code: '0008', status: 'ambiguous', reason: 'account-linked-to-other-subject' }]));
    expect(t.logs.lines.length).toBeGreaterThan(20);
  });

  it('no response body or header contains one', () => {
    for (const response of responses) for (const n of sent) expect(response).not.toContain(n);
    for (const response of responses) for (const n of spelled) expect(inClearForm(response)).not.toContain(n);
  });

  it('no column of any table contains one', async () => {
    const { tables, lines } = await databaseText(t.db.pool);
    expect(tables).toEqual(
      expect.arrayContaining(['subjects', 'linkages', 'audit_events', 'idempotency_keys', 'peer_message_ids', 'inquiries', 'inquiry_answers', 'empty_answers']),
    );
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) for (const n of sent) expect(line).not.toContain(n);
    for (const line of lines) for (const n of spelled) expect(inClearForm(line)).not.toContain(n);
  });

  it('no log line contains one', () => {
    const logs = t.logs.text;
    // The requests themselves were logged (one line each, with its id), so the check below reads them too.
    const requestLines = t.logs.lines.filter((l) => l.includes('"msg":"request completed"'));
    expect(requestLines.some((l) => l.includes('"url":"/v1/linkages"') && /"req":\{"id":"[0-9a-f-]{36}"/.test(l))).toBe(true);
    for (const n of sent) expect(logs).not.toContain(n);
    const clear = inClearForm(logs);
    for (const n of spelled) expect(clear).not.toContain(n);
  });

  it('no Redis key or value the service wrote contains one', async () => {
    const redis = new Redis(t.config.REDIS_URL);
    try {
      const keys = await redis.keys(queueKeysPattern(t.config));
      expect(keys.length).toBeGreaterThan(0);
      let dump = keys.join('\n');
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === 'string') dump += await redis.get(key);
        else if (type === 'hash') dump += JSON.stringify(await redis.hgetall(key));
        else if (type === 'list') dump += JSON.stringify(await redis.lrange(key, 0, -1));
        else if (type === 'set') dump += JSON.stringify(await redis.smembers(key));
        else if (type === 'zset') dump += JSON.stringify(await redis.zrange(key, 0, -1));
        else if (type === 'stream') dump += JSON.stringify(await redis.xrange(key, '-', '+'));
      }
      for (const n of sent) expect(dump).not.toContain(n);
      for (const n of spelled) expect(inClearForm(dump)).not.toContain(n);
    } finally {
      redis.disconnect();
    }
  });
});
