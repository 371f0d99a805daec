import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Response } from 'supertest';
import { linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { validMyNumber } from './support/my-numbers.js';
import { inheritanceBody } from './support/inquiries.js';

/**
 * Malformed shapes of a JSON body, each once, on the real app: every one is a 4xx
 * problem+json with a stable code (the body fuzzer, body-fuzz.e2e-spec.ts, finds the
 * ones nobody thought of). Each was a 500, or worse, before its mechanism.
 */
describe('malformed JSON bodies answer 4xx problem+json, never 5xx', () => {
  let t: TestApp;
  let bank: TestInstitution;
  const myNumber = validMyNumber(7301);
  const post = (body: string, contentType = 'application/json') =>
    t.http.post('/v1/linkages').set(bank.auth).set('Content-Type', contentType).send(body);
  const linkage = (overrides: Record<string, unknown>) => JSON.stringify(linkageBody(myNumber, overrides));
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  function expectProblem(res: Response, status: number, code: string): void {
    expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text).not.toContain(myNumber);
  }

  beforeAll(async () => {
    t = await startTestApp({ env: { JSON_MAX_DEPTH: '32', JSON_MAX_ARRAY_ITEMS: '5000' } });
    bank = await t.createInstitution('0005');
  });

  afterAll(async () => {
    await t.close();
  });

  it('an array inside a nested list (accounts: [[]]) → 422 at accounts[0], not a 500 from the service', async () => {
    const res = await post(linkage({ accounts: [[]] }));
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ path: 'accounts[0]', code: 'INVALID_TYPE', message: 'accounts[0] must be an object' }]);
    const inner = await post(linkage({ accounts: [[{ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }]] }));
    expectProblem(inner, 422, 'VALIDATION_FAILED');
    expect(inner.body.errors).toContainEqual(expect.objectContaining({ path: 'accounts[0]', code: 'INVALID_TYPE' }));
  });

  it('a body nested thousands of levels deep → 400 JSON_LIMIT_EXCEEDED before parsing; JSON_MAX_DEPTH levels are still read', async () => {
    expectProblem(await post(`{"branchCode":${nested(5000)}}`), 400, 'JSON_LIMIT_EXCEEDED');
    expectProblem(await post(`${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`), 400, 'JSON_LIMIT_EXCEEDED');
    expectProblem(await post(`{"branchCode":${nested(32)}}`), 400, 'JSON_LIMIT_EXCEEDED');
    // 31 arrays inside the body: 32 levels, the limit, validated as usual.
    const atLimit = await post(`{"branchCode":${nested(31)}}`);
    expectProblem(atLimit, 422, 'VALIDATION_FAILED');
    expect(atLimit.body.errors).toContainEqual(expect.objectContaining({ path: 'branchCode', code: 'INVALID_TYPE' }));
  });

  it('an array longer than JSON_MAX_ARRAY_ITEMS → 400; longer than its DTO allows → TOO_MANY alone, its items unvalidated', async () => {
    const tooLong = await post(linkage({ accounts: Array.from({ length: 5001 }, () => 0) }));
    expectProblem(tooLong, 400, 'JSON_LIMIT_EXCEEDED');
    const started = Date.now();
    const long = await post(linkage({ accounts: Array.from({ length: 5000 }, () => ({})) }));
    expectProblem(long, 422, 'VALIDATION_FAILED');
    expect(long.body.errors).toEqual([{ path: 'accounts', code: 'TOO_MANY', message: 'accounts must contain no more than 100 elements' }]);
    // Validating (and reporting) each of the 5000 took seconds of CPU.
    expect(Date.now() - started).toBeLessThan(1000);
    // Within the list's limit, every item is validated; a 422 lists 100 field errors at most.
    const many = await post(linkage({ accounts: Array.from({ length: 100 }, () => ({})) }));
    expectProblem(many, 422, 'VALIDATION_FAILED');
    expect(many.body.errors).toHaveLength(100);
    expect(many.body.detail).toMatch(/^3\d\d field\(s\) are invalid; the first 100 are listed$/);
  });

  it('the same member name twice (also when escaped) → 400 MALFORMED_JSON', async () => {
    const body = linkage({});
    expectProblem(await post(`{"branchCode":"002",${body.slice(1)}`), 400, 'MALFORMED_JSON');
    expectProblem(await post(`{"branch\\u0043ode":"002",${body.slice(1)}`), 400, 'MALFORMED_JSON');
    // The same name in different objects is fine.
    expect((await post(linkage({ verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' } }))).status).toBe(201);
  });

  it('prototype pollution: __proto__ and constructor.prototype → 400, Object.prototype names → 422 UNKNOWN_FIELD', async () => {
    const body = linkage({});
    expectProblem(await post(`{"__proto__":{"admin":true},${body.slice(1)}`), 400, 'MALFORMED_JSON');
    expectProblem(await post(`{"constructor":{"prototype":{"admin":true}},${body.slice(1)}`), 400, 'MALFORMED_JSON');
    for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const res = await post(`{"${key}":1,${body.slice(1)}`);
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(res.body.errors).toEqual([{ path: key, code: 'UNKNOWN_FIELD', message: `${key} is not a known field` }]);
    }
    const deep = await post(linkage({ subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', toString: 'x' } }));
    expect(deep.body.errors).toEqual([{ path: 'subject.toString', code: 'UNKNOWN_FIELD', message: 'subject.toString is not a known field' }]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('an empty body sent as text/csv to a JSON route → 415 (the raw stream never reaches validation)', async () => {
    for (const type of ['text/csv', 'application/x-ndjson']) {
      expectProblem(await t.http.post('/v1/linkages').set(bank.auth).set('Content-Type', type), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    // The app is still up.
    expect((await t.http.get('/health/live')).status).toBe(200);
  });

  it('numbers, nulls, arrays and objects where the others are expected → 422 with the field paths', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ branchCode: 1 }, 'branchCode'],
      [{ subject: [] }, 'subject'],
      [{ subject: null }, 'subject'],
      [{ accounts: {} }, 'accounts'],
      [{ accounts: [null] }, 'accounts[0]'],
      [{ accounts: ['0012345'] }, 'accounts[0]'],
      [{ verification: 'my-number-card' }, 'verification'],
      [{ consentAt: 1 }, 'consentAt'],
    ];
    for (const [overrides, path] of cases) {
      const res = await post(linkage(overrides));
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    for (const body of ['null', '[]', '"x"', '1', 'true', '[{}]']) expectProblem(await post(body), 422, 'VALIDATION_FAILED');
    const numberForNumber = await post(linkage({ subject: { myNumber: Number(myNumber), nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01' } }));
    expectProblem(numberForNumber, 422, 'INVALID_MY_NUMBER');
  });

  it('empty, truncated, non-JSON and oversized bodies → 400, 415, 413', async () => {
    expectProblem(await post(''), 400, 'MALFORMED_JSON');
    expectProblem(await post(linkage({}).slice(0, 40)), 400, 'MALFORMED_JSON');
    expectProblem(await post(`${linkage({})} }`), 400, 'MALFORMED_JSON');
    expectProblem(await post(linkage({}), 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await post(linkage({ operatorId: 'x'.repeat(70_000) })), 413, 'PAYLOAD_TOO_LARGE');
    expectProblem(await post(linkage({ operatorId: 'x'.repeat(5000) })), 422, 'VALIDATION_FAILED');
  });

  it('an Idempotency-Key is scoped to its route: the same key on two routes names two requests, each replayed on its own', async () => {
    const key = 'json-bodies-shared-key-1';
    const inquiry = await t.http.post('/v1/inquiries').set(bank.auth).set('Idempotency-Key', key).send(inheritanceBody(validMyNumber(7302))).expect(202);
    const body = linkageBody(validMyNumber(7303), { accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '7303730' }] });
    const linkage = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', key).send(body).expect(201);
    expect(linkage.headers['idempotent-replayed']).toBeUndefined();
    const again = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', key).send(body).expect(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(linkage.body.id);
    const inquiryAgain = await t.http.post('/v1/inquiries').set(bank.auth).set('Idempotency-Key', key).send(inheritanceBody(validMyNumber(7302))).expect(202);
    expect(inquiryAgain.body.id).toBe(inquiry.body.id);
    // Found by the body fuzzer when keys were shared between routes: accounts "all" under a
    // key an inquiry used was a 500. Now it is a request of its own (no register: 409).
    const all = await t.http.post('/v1/linkages').set(bank.auth).set('Idempotency-Key', 'json-bodies-shared-key-2').send(linkageBody(myNumber, { accounts: 'all' }));
    expect(all.status).toBeLessThan(500);
  });

  it('found by the body fuzzer: null for an optional field (cursor: null) → 422 INVALID_TYPE, not 500', async () => {
    const res = await t.http
      .post('/v1/access-history')
      .set(bank.auth)
      .send({
        branchCode: '001',
        operatorId: 'T0042',
        subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01' },
        verification: { identityDocument: 'my-number-card' },
        purpose: 'legal-representative-request',
        cursor: null,
      });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ path: 'cursor', code: 'INVALID_TYPE', message: 'cursor must be left out rather than null' }]);
  });
});

describe('each route takes the body its own configuration names (application/jose, a register file, JSON)', () => {
  let t: TestApp;
  let bank: TestInstitution;
  const document = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>>;
  };
  /** The operations whose documented body is `mediaType`, as [method, path]. */
  const taking = (mediaType: string) =>
    Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.requestBody && mediaType in operation.requestBody.content)
        .map(([method, ]) => [method, path] as const),
    );

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005', ['register:write', 'register:read', 'linkages:write']);
  });

  afterAll(async () => {
    await t.close();
  });

  it('every node-to-node route refuses another media type as it refuses any bad message: 401 PEER_MESSAGE_REFUSED', async () => {
    const routes = taking('application/jose');
    expect(routes.length).toBeGreaterThanOrEqual(4);
    for (const [method, path] of routes) {
      for (const [type, body] of [['text/plain', 'hello'], ['application/json', '{}']]) {
        const res = await t.http[method as 'post'](path).set('Content-Type', type).send(body);
        expect({ path, type, status: res.status, code: res.body.code }).toEqual({ path, type, status: 401, code: 'PEER_MESSAGE_REFUSED' });
      }
    }
  });

  it('every register upload route refuses JSON with 415, and every JSON route refuses a register file with 415', async () => {
    const registerRoutes = taking('text/csv');
    expect(registerRoutes.length).toBeGreaterThanOrEqual(1);
    for (const [method, path] of registerRoutes) {
      const res = await t.http[method as 'post'](path).set(bank.auth).set('Content-Type', 'application/json').send('{}');
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
    const res = await t.http.post('/v1/linkages').set(bank.auth).set('Content-Type', 'text/csv').send('a,b\n');
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
  });
});
