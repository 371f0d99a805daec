import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createKouzaHubClient, verifyWebhookSignature, WebhookVerificationError, type KouzaHubClient } from '../../clients/typescript/src/index.js';
import { CSV_HEADER } from '../../src/register/register-row.js';
import request from 'supertest';
import { ContractViolation, contractCheckedRequest, ResponseContract } from './support/contract.js';
import { inheritanceBody } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { ADMIN_KEY, eventually, linkageBody, startTestApp, type TestApp } from './support/test-app.js';

/**
 * The generated TypeScript client (clients/typescript, @kouza-hub/client) drives the
 * main flows against the real app over HTTP: operator set-up, an attachment, an
 * inquiry announced by a signed webhook, a register upload. Every answer it gets is
 * held to the OpenAPI document too (the contract check wraps its fetch).
 */
class WebhookReceiver {
  readonly received: { headers: IncomingHttpHeaders; body: string }[] = [];
  private server?: Server;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/kouza-hub`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe('the TypeScript client against the real app', () => {
  let t: TestApp;
  let baseUrl: string;
  const receiver = new WebhookReceiver();
  const contract = new ResponseContract();
  const violations: string[] = [];

  /** The client, its every answer checked against the document. */
  const client = (apiKey: string): KouzaHubClient =>
    createKouzaHubClient({
      baseUrl,
      apiKey,
      fetch: async (request: Request) => {
        const response = await fetch(request);
        const text = await response.clone().text();
        const type = response.headers.get('content-type') ?? '';
        const body = /json/.test(type) && text ? JSON.parse(text) : undefined;
        violations.push(
          ...contract.violations(request.method, request.url, { status: response.status, headers: Object.fromEntries(response.headers), body, text }),
        );
        return response;
      },
    });

  let operator: KouzaHubClient;
  let bank: KouzaHubClient;
  let heirsBank: KouzaHubClient;
  let heirsBankSecret: string;

  beforeAll(async () => {
    await receiver.start();
    t = await startTestApp();
    await t.startWorker();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    operator = client(ADMIN_KEY);

    const scopes = ['linkages:write', 'linkages:read', 'inquiries:write', 'inquiries:read', 'register:write', 'register:read'] as const;
    const created = await operator.POST('/v1/institutions', { body: { code: '0005', name: 'Bank 0005' } });
    expect(created.response.status).toBe(201);
    const key = await operator.POST('/v1/institutions/{code}/api-keys', {
      params: { path: { code: '0005' } },
      body: { name: 'teller', scopes: [...scopes] },
    });
    bank = client(key.data!.key);

    const heirs = await operator.POST('/v1/institutions', { body: { code: '0006', name: 'Bank 0006', webhookUrl: receiver.url() } });
    heirsBankSecret = heirs.data!.webhookSecret!;
    const heirsKey = await operator.POST('/v1/institutions/{code}/api-keys', {
      params: { path: { code: '0006' } },
      body: { name: 'teller', scopes: [...scopes] },
    });
    heirsBank = client(heirsKey.data!.key);
  });

  afterAll(async () => {
    await t?.close();
    await receiver.stop();
  });

  it('attaches, reads, finds and revokes a linkage; a refusal is a typed problem', async () => {
    const myNumber = validMyNumber(4101);
    const attached = await bank.POST('/v1/linkages', { body: linkageBody(myNumber) as never, headers: { 'Idempotency-Key': 'client-e2e-1' } });
    expect(attached.response.status).toBe(201);
    const attachment = attached.data!;
    expect(attachment.subject.myNumberMasked).toBe(`********${myNumber.slice(8)}`);
    const linkageId = attachment.linkages[0].id;

    const read = await bank.GET('/v1/linkages/{id}', { params: { path: { id: linkageId } } });
    expect(read.data).toMatchObject({ id: linkageId, status: 'active', revocation: null });

    const found = await bank.GET('/v1/linkages', { params: { query: { branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' } } });
    expect(found.data!.items.map((l) => l.id)).toEqual([linkageId]);

    const revoked = await bank.POST('/v1/linkages/{id}/revocation', {
      params: { path: { id: linkageId } },
      body: { reason: 'attached-in-error', branchCode: '001', operatorId: 'T0042' },
    });
    expect(revoked.data).toMatchObject({ status: 'revoked', revocation: { reason: 'attached-in-error' } });

    const refused = await bank.POST('/v1/linkages', { body: linkageBody('123456789012') as never });
    expect(refused.response.status).toBe(422);
    expect(refused.error).toMatchObject({ code: 'INVALID_MY_NUMBER', errors: [{ path: 'subject.myNumber' }] });
    expect(JSON.stringify(refused.error)).not.toContain('123456789012');
  });

  it('an inheritance inquiry completes, and the webhook that announces it verifies with the secret', async () => {
    const myNumber = validMyNumber(4102);
    expect((await bank.POST('/v1/linkages', { body: linkageBody(myNumber) as never })).response.status).toBe(201);

    const accepted = await heirsBank.POST('/v1/inquiries', { body: inheritanceBody(myNumber, { subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', dateOfDeath: '2026-10-01' } }) as never });
    expect(accepted.response.status).toBe(202);
    const inquiryId = accepted.data!.id;

    const delivery = await eventually(
      async () => receiver.received.find((r) => r.body.includes(inquiryId)),
      (found) => found !== undefined,
      20_000,
    );
    const { event } = verifyWebhookSignature({ secret: heirsBankSecret, headers: delivery!.headers as Record<string, string>, body: delivery!.body });
    expect(event).toMatchObject({ type: 'inquiry.completed', data: { inquiryId, status: 'completed' } });
    expect(() =>
      verifyWebhookSignature({ secret: heirsBankSecret, headers: delivery!.headers as Record<string, string>, body: delivery!.body.replace('completed', 'partial') }),
    ).toThrow(WebhookVerificationError);

    const inquiry = await heirsBank.GET('/v1/inquiries/{id}', { params: { path: { id: inquiryId } } });
    expect(inquiry.data).toMatchObject({ status: 'completed' });
    expect(inquiry.data!.results.find((r) => r.institutionCode === '0005')).toMatchObject({
      status: 'found',
      accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }],
    });
  });

  it('uploads an account register and follows the import to its outcome', async () => {
    const csv = `${CSV_HEADER}\nC1,001,ordinary,0000001,ヤマダ タロウ,1980-04-01,100-0013,東京都千代田区霞が関1丁目2番3号,open\n`;
    const accepted = await bank.POST('/v1/register-imports', {
      params: { query: { mode: 'full' } },
      body: csv as never,
      bodySerializer: (body: unknown) => body as string,
      headers: { 'content-type': 'text/csv; charset=utf-8' },
    });
    expect(accepted.response.status).toBe(202);
    expect(accepted.response.headers.get('location')).toBe(`/v1/register-imports/${accepted.data!.id}`);
    const done = await eventually(
      async () => (await bank.GET('/v1/register-imports/{id}', { params: { path: { id: accepted.data!.id } } })).data!,
      (view) => ['completed', 'failed', 'refused'].includes(view.status),
      30_000,
    );
    expect(done).toMatchObject({ status: 'completed', counts: { inserted: 1, rejected: 0 } });
  });

  it('checks every answer: a doctored document makes a real answer a violation', async () => {
    const doctored = structuredClone(contract.document) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    doctored.components.schemas.LinkageListView.required.push('nextCursor');
    doctored.paths['/v1/linkages'].get.responses['422'].content['application/problem+json'].schema.allOf[1].properties.code.enum = ['INVALID_MY_NUMBER'];
    delete doctored.paths['/v1/linkages'].get.responses['403'];
    const strict = new ResponseContract(doctored);
    const list = await t.http.get('/v1/linkages?branchCode=001&accountType=ordinary&accountNumber=0012345').set({ Authorization: `Bearer ${ADMIN_KEY}` });
    expect(strict.violations('GET', '/v1/linkages', list).join('\n')).toMatch(/status 403 is not documented/);
    const found = await bank.GET('/v1/linkages', { params: { query: { branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' } } });
    expect(strict.violations('GET', '/v1/linkages', { status: 200, headers: { 'content-type': 'application/json' }, body: found.data, text: JSON.stringify(found.data) }).join('\n')).toMatch(
      /required property 'nextCursor'/,
    );
    const invalid = await bank.GET('/v1/linkages', { params: { query: { branchCode: '1', accountType: 'ordinary', accountNumber: '0012345' } } });
    expect(invalid.error?.code).toBe('VALIDATION_FAILED');
    expect(
      strict.violations('GET', '/v1/linkages', { status: 422, headers: { 'content-type': 'application/problem+json' }, body: invalid.error, text: JSON.stringify(invalid.error) }).join('\n'),
    ).toMatch(/body\/code must be equal to one of the allowed values/);
    // The hook test-app.ts puts on t.http: a request whose answer breaks the contract fails when awaited.
    const checked = contractCheckedRequest(request(t.app.getHttpServer()), strict);
    await expect(checked.get('/v1/linkages?branchCode=1').set({ Authorization: `Bearer ${ADMIN_KEY}` })).rejects.toThrow(ContractViolation);
    await expect(contractCheckedRequest(request(t.app.getHttpServer())).get('/v1/linkages?branchCode=1').set({ Authorization: `Bearer ${ADMIN_KEY}` }).expect(403)).resolves.toBeDefined();
    const extra = { ...found.data, unexpected: true };
    expect(contract.violations('GET', '/v1/linkages', { status: 200, headers: { 'content-type': 'application/json' }, body: extra, text: JSON.stringify(extra) }).join('\n')).toMatch(
      /unevaluated properties/,
    );
  });

  it('every answer the client got keeps the OpenAPI document', () => {
    expect(violations).toEqual([]);
  });
});
