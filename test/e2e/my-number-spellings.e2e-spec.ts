import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Response } from 'supertest';
import { databaseText } from './support/database-text.js';
import { inheritanceBody } from './support/inquiries.js';
import { inClearForm, spellings, validMyNumber } from './support/my-numbers.js';
import { linkageBody, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';

/**
 * A My Number typed into a free-text field in the spellings people use (full-width
 * digits, groups split by hyphens, dashes, ー or spaces) is refused like the plain
 * one: 422, the field's stable code, the value not echoed, nothing stored.
 */
describe('free-text fields refuse a My Number in any spelling', () => {
  let t: TestApp;
  let bank: TestInstitution;
  let linkageId: string;
  const number = validMyNumber(4_242_001);
  const forms = spellings(number);
  const answers: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
    const created = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(validMyNumber(4_242_002))).expect(201);
    linkageId = created.body.linkages[0].id;
  });
  afterAll(() => t.close());

  const refused = (res: Response, path: string, typed: string) => {
    answers.push(res.text + JSON.stringify(res.headers));
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.errors).toContainEqual(expect.objectContaining({ path, code: 'CONTAINS_MY_NUMBER' }));
    expect(res.text).not.toContain(typed);
    expect(inClearForm(res.text)).not.toContain(number);
  };

  describe.each(forms)('typed with %s', (_how, typed) => {
    it('a revocation note', async () => {
      const res = await t.http
        .post(`/v1/linkages/${linkageId}/revocation`)
        .set(bank.auth)
        .send({ reason: 'other', note: `番号 ${typed} 確認済`, branchCode: '001', operatorId: 'T1' });
      refused(res, 'note', typed);
    });

    it("an inquiry applicant's name and an evidence reference", async () => {
      const res = await t.http
        .post('/v1/inquiries')
        .set(bank.auth)
        .send(
          inheritanceBody(validMyNumber(4_242_003), {
            applicant: { relationship: 'heir', name: `山田 花子 ${typed}` },
            evidence: [{ type: 'legal-heir-information', reference: `HJ ${typed}` }],
          }),
        );
      refused(res, 'applicant.name', typed);
      refused(res, 'evidence[0].reference', typed);
    });

    it("a numbering request's address", async () => {
      const res = await t.http
        .post('/v1/numbering-requests')
        .set(bank.auth)
        .send({
          branchCode: '001',
          operatorId: 'T0042',
          subject: { myNumber: validMyNumber(4_242_004), nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', address: `千代田区1-2-3 ${typed}` },
          verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' },
          consentAt: new Date(Date.now() - 60_000).toISOString(),
          targetInstitutions: ['0005'],
        });
      refused(res, 'subject.address', typed);
    });

    it("an institution's name, and a webhook URL (admin)", async () => {
      const res = await t.http
        .post('/v1/institutions')
        .set(t.admin)
        .send({ code: '0006', name: `銀行 ${typed}`, webhookUrl: `https://bank.example/hooks/${encodeURIComponent(typed)}` });
      refused(res, 'name', typed);
      refused(res, 'webhookUrl', typed);
    });
  });

  // The operator id is ASCII by its pattern: the ASCII spellings get past the pattern,
  // and the guard is what refuses them.
  describe.each(forms.filter(([, typed]) => /^[A-Za-z0-9._@-]+$/.test(typed)))('typed with %s', (_how, typed) => {
    it("a linkage's operator id", async () => {
      const res = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(validMyNumber(4_242_005), { operatorId: `T-${typed}` }));
      refused(res, 'operatorId', typed);
    });
  });

  it('nothing of it was stored, and no answer held it', async () => {
    expect(answers.length).toBeGreaterThan(forms.length * 5);
    for (const answer of answers) expect(inClearForm(answer)).not.toContain(number);
    const { lines } = await databaseText(t.db.pool);
    for (const line of lines) expect(inClearForm(line)).not.toContain(number);
    expect(Number((await t.db.pool.query(`SELECT count(*) FROM linkages WHERE status = 'revoked'`)).rows[0].count)).toBe(0);
    expect(Number((await t.db.pool.query('SELECT count(*) FROM inquiries')).rows[0].count)).toBe(0);
    expect(Number((await t.db.pool.query(`SELECT count(*) FROM institutions WHERE code = '0006'`)).rows[0].count)).toBe(0);
  });

  it('no log line holds it', () => {
    expect(inClearForm(t.logs.text)).not.toContain(number);
  });
});
