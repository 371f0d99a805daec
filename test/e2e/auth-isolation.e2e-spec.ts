import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { validMyNumber } from './support/my-numbers.js';

/**
 * Who reaches what: no key 401, bad key 401, missing scope 403, another institution's
 * resource 404 (never the row), and the operator key only for operator routes.
 */
describe('authentication, scopes and isolation', () => {
  let t: TestApp;
  let a: TestInstitution;
  let b: TestInstitution;
  let aLinkageId: string;

  beforeAll(async () => {
    t = await startTestApp();
    a = await t.createInstitution('0001');
    b = await t.createInstitution('0002');
    const created = await t.http.post('/v1/linkages').set(a.auth).send(linkageBody(validMyNumber(1))).expect(201);
    aLinkageId = created.body.linkages[0].id;
  });
  afterAll(() => t.close());

  const account = { branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' };

  /** Every institution-facing endpoint, as a request builder. */
  const institutionEndpoints: Array<[string, string, (auth: Record<string, string>) => Promise<{ status: number; body: any }>]> = [
    ['POST /v1/linkages', 'linkages:write', (auth) => t.http.post('/v1/linkages').set(auth).send(linkageBody(validMyNumber(2), { accounts: [{ ...account, accountNumber: '7654321' }] }))],
    ['GET /v1/linkages/:id', 'linkages:read', (auth) => t.http.get(`/v1/linkages/${aLinkageId}`).set(auth)],
    ['GET /v1/linkages?account', 'linkages:read', (auth) => t.http.get('/v1/linkages').query(account).set(auth)],
    ['POST /v1/linkages/:id/revocation', 'linkages:write', (auth) => t.http.post(`/v1/linkages/${aLinkageId}/revocation`).set(auth).send({ reason: 'other', branchCode: '001', operatorId: 'T1' })],
  ];

  const operatorEndpoints: Array<[string, (auth: Record<string, string>) => Promise<{ status: number; body: any }>]> = [
    ['POST /v1/institutions', (auth) => t.http.post('/v1/institutions').set(auth).send({ code: '0999', name: 'X' })],
    ['GET /v1/institutions', (auth) => t.http.get('/v1/institutions').set(auth)],
    ['GET /v1/institutions/:code', (auth) => t.http.get('/v1/institutions/0001').set(auth)],
    ['POST /v1/institutions/:code/api-keys', (auth) => t.http.post('/v1/institutions/0001/api-keys').set(auth).send({ name: 'k', scopes: ['linkages:read'] })],
    ['GET /v1/institutions/:code/api-keys', (auth) => t.http.get('/v1/institutions/0001/api-keys').set(auth)],
    ['POST /v1/institutions/:code/api-keys/:id/revocation', (auth) => t.http.post('/v1/institutions/0001/api-keys/00000000-0000-4000-8000-000000000000/revocation').set(auth)],
    ['GET /v1/audit/verification', (auth) => t.http.get('/v1/audit/verification').set(auth)],
    ['POST /v1/peers', (auth) => t.http.post('/v1/peers').set(auth).send({ nodeId: 'node-x' })],
    ['GET /v1/peers', (auth) => t.http.get('/v1/peers').set(auth)],
    ['GET /v1/peers/:nodeId', (auth) => t.http.get('/v1/peers/node-x').set(auth)],
    ['DELETE /v1/peers/:nodeId', (auth) => t.http.delete('/v1/peers/node-x').set(auth)],
  ];

  const everyEndpoint = [...institutionEndpoints.map(([name, , send]) => [name, send] as const), ...operatorEndpoints];

  it.each(everyEndpoint)('%s without a key → 401 problem+json with WWW-Authenticate', async (_name, send) => {
    const res = await send({});
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('UNAUTHENTICATED');
  });

  it.each(everyEndpoint)('%s with an unknown or malformed key → 401', async (_name, send) => {
    expect((await send({ Authorization: 'Bearer kh_' + 'A'.repeat(43) })).status).toBe(401);
    expect((await send({ Authorization: 'Bearer nonsense' })).status).toBe(401);
    expect((await send({ Authorization: 'Basic dXNlcjpwYXNz' })).status).toBe(401);
  });

  it.each(institutionEndpoints)('%s needs the scope %s → 403 without it', async (_name, scope, send) => {
    const others = ['linkages:write', 'linkages:read', 'inquiries:write', 'inquiries:read', 'history:read'].filter((s) => s !== scope);
    const key = await t.http.post('/v1/institutions/0001/api-keys').set(t.admin).send({ name: 'narrow', scopes: others }).expect(201);
    const res = await send({ Authorization: `Bearer ${key.body.key}` });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('FORBIDDEN_SCOPE');
  });

  it.each(institutionEndpoints)('%s with the operator key → 403 (the operator acts for no institution)', async (_name, _scope, send) => {
    expect((await send(t.admin)).status).toBe(403);
  });

  it.each(operatorEndpoints)('%s with an institution key → 403', async (_name, send) => {
    const res = await send(a.auth);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('FORBIDDEN_SCOPE');
  });

  describe("another institution's linkage is not there", () => {
    it('read → 404', async () => {
      const res = await t.http.get(`/v1/linkages/${aLinkageId}`).set(b.auth).expect(404);
      expect(res.body.code).toBe('NOT_FOUND');
      expect(JSON.stringify(res.body)).not.toContain(aLinkageId);
    });

    it('revoke → 404, and the linkage stays active', async () => {
      await t.http.post(`/v1/linkages/${aLinkageId}/revocation`).set(b.auth).send({ reason: 'other', branchCode: '001', operatorId: 'T1' }).expect(404);
      const row = await t.db.pool.query('SELECT status FROM linkages WHERE id = $1', [aLinkageId]);
      expect(row.rows[0].status).toBe('active');
    });

    it('find by the same account → nothing', async () => {
      const res = await t.http.get('/v1/linkages').query(account).set(b.auth).expect(200);
      expect(res.body.items).toEqual([]);
      const own = await t.http.get('/v1/linkages').query(account).set(a.auth).expect(200);
      expect(own.body.items).toHaveLength(1);
    });

    it('the same account number at another institution is a different account', async () => {
      const res = await t.http.post('/v1/linkages').set(b.auth).send(linkageBody(validMyNumber(3), { accounts: [account] })).expect(201);
      expect(res.body.linkages[0].alreadyLinked).toBe(false);
    });
  });

  describe('institutions and API keys (operator)', () => {
    it('creates an institution once; a second with the same code → 409', async () => {
      await t.http.post('/v1/institutions').set(t.admin).send({ code: '0100', name: 'Shinkin 100' }).expect(201);
      const dup = await t.http.post('/v1/institutions').set(t.admin).send({ code: '0100', name: 'Again' }).expect(409);
      expect(dup.body.code).toBe('INSTITUTION_EXISTS');
    });

    it('validates the institution code and the scopes', async () => {
      const bad = await t.http.post('/v1/institutions').set(t.admin).send({ code: '12345', name: 'X' }).expect(422);
      expect(bad.body.errors).toContainEqual({ path: 'code', code: 'INVALID_FORMAT', message: expect.any(String) });
      const scopes = await t.http.post('/v1/institutions/0001/api-keys').set(t.admin).send({ name: 'k', scopes: ['admin:institutions'] }).expect(422);
      expect(scopes.body.errors[0]).toMatchObject({ path: 'scopes', code: 'INVALID_VALUE' });
      await t.http.post('/v1/institutions/0404/api-keys').set(t.admin).send({ name: 'k', scopes: ['linkages:read'] }).expect(404);
    });

    it('shows a key once, stores only its hash, lists keys without secrets, and a revoked key is refused at once', async () => {
      const created = await t.http.post('/v1/institutions/0002/api-keys').set(t.admin).send({ name: 'branch-7', scopes: ['linkages:read'] }).expect(201);
      const { id, key } = created.body;
      expect(key).toMatch(/^kh_[A-Za-z0-9_-]{43}$/);

      const stored = await t.db.pool.query('SELECT * FROM api_keys WHERE id = $1', [id]);
      expect(JSON.stringify(stored.rows[0])).not.toContain(key);
      expect(JSON.stringify(stored.rows[0])).not.toContain(key.slice(10));

      const list = await t.http.get('/v1/institutions/0002/api-keys').set(t.admin).expect(200);
      const listed = list.body.items.find((k: { id: string }) => k.id === id);
      expect(listed).toEqual({ id, name: 'branch-7', prefix: key.slice(0, 9), scopes: ['linkages:read'], createdAt: expect.any(String), revokedAt: null });
      expect(JSON.stringify(list.body)).not.toContain(key);

      const auth = { Authorization: `Bearer ${key}` };
      await t.http.get('/v1/linkages').query(account).set(auth).expect(200);
      await t.http.post(`/v1/institutions/0002/api-keys/${id}/revocation`).set(t.admin).expect(200);
      const refused = await t.http.get('/v1/linkages').query(account).set(auth).expect(401);
      expect(refused.body.code).toBe('UNAUTHENTICATED');
      const again = await t.http.post(`/v1/institutions/0002/api-keys/${id}/revocation`).set(t.admin).expect(409);
      expect(again.body.code).toBe('API_KEY_ALREADY_REVOKED');
      // A key of one institution cannot be revoked through another's path.
      await t.http.post(`/v1/institutions/0001/api-keys/${id}/revocation`).set(t.admin).expect(404);
    });
  });
});
