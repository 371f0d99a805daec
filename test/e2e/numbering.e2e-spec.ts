import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { epochSeconds, generateNodeIdentity, importPeerKeys, sealEnvelope, type NodeIdentity } from '../../src/peers/envelope.js';
import { newMessageId, PROTOCOL_VERSION } from '../../src/peers/peer-messages.js';
import { NODE_IDENTITY } from '../../src/peers/peers.tokens.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/simulator.js';
import { FINAL, LINKAGE_SUBJECT } from './support/inquiries.js';
import { inheritanceBody } from './support/inquiries.js';
import { invalidMyNumber, validMyNumber } from './support/my-numbers.js';
import { seedRegister, type RegisterRowInput } from './support/register.js';
import { eventually, startTestApp } from './support/test-app.js';
import type { TestApp, TestInstitution } from './support/test-app.js';

const PATH = '/v1/numbering-requests';

/**
 * Numbering at other institutions (他行付番) over the inquiries' fan-out. Node A hosts
 * the requester 0001 and three targets: 0005 (a register holding the depositor), 0006
 * (a register holding two customers who match), 0007 (no register). Node B, a second
 * real kouza-hub, hosts 0201 with a register. Three simulated peers host 5000-5002,
 * the last one down.
 */
describe('numbering requests', () => {
  let a: TestApp;
  let b: TestApp;
  let sim: RunningSimulator;
  let requester: TestInstitution;
  let target: TestInstitution;
  let twins: TestInstitution;
  let bare: TestInstitution;
  let atB: TestInstitution;
  let identityA: NodeIdentity;
  let stranger: NodeIdentity;
  let bUrl: string;
  let seq = 0;
  const number = () => validMyNumber(70_000 + ++seq);

  const body = (myNumber: string, overrides: Record<string, unknown> = {}, subject: Record<string, unknown> = {}) => ({
    branchCode: '010',
    operatorId: 'T0100',
    subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', address: '東京都千代田区霞が関1丁目2番3号', ...subject },
    verification: { numberDocument: 'my-number-card', identityDocument: 'drivers-license' },
    consentAt: new Date(Date.now() - 60_000).toISOString(),
    ...overrides,
  });
  const request = async (payload: Record<string, unknown>) => {
    const res = await a.http.post(PATH).set(requester.auth).send(payload).expect(202);
    expect(res.headers.location).toBe(`${PATH}/${res.body.id}`);
    return res.body.id as string;
  };
  const final = async (id: string, who: TestInstitution = requester) =>
    (
      await eventually(
        () => a.http.get(`${PATH}/${id}`).set(who.auth),
        (r) => r.status === 200 && FINAL.includes(r.body.status),
        30_000,
      )
    ).body;
  const statuses = (view: any) =>
    view.results.map((r: any) => ({ institutionCode: r.institutionCode, status: r.status, ...(r.accounts ? { accounts: r.accounts } : {}) }));

  let accountSeq = 0;
  const row = (overrides: Partial<RegisterRowInput>): RegisterRowInput => ({
    branchCode: '001',
    accountType: 'ordinary',
    accountNumber: String(100_000 + ++accountSeq).padStart(7, '0'),
    customerNumber: 'C0001',
    nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
    birthDate: '1980-04-01',
    address: '千代田区霞ケ関１－２－３',
    ...overrides,
  });

  beforeAll(async () => {
    const env = {
      PEER_BATCH_WAIT_MS: '50',
      PEER_REQUEST_TIMEOUT_MS: '1000',
      PEER_RETRY_ATTEMPTS: '2',
      PEER_RETRY_BACKOFF_MS: '200',
      PEER_NODE_DEADLINE_SECONDS: '10',
      INQUIRY_DEADLINE_SECONDS: '60',
      RECONCILE_INTERVAL_MS: '500',
    };
    [a, b] = await Promise.all([startTestApp({ env }), startTestApp()]);
    await b.app.listen({ port: 0, host: '127.0.0.1' });
    bUrl = `http://127.0.0.1:${(b.app.getHttpServer().address() as AddressInfo).port}`;
    requester = await a.createInstitution('0001');
    target = await a.createInstitution('0005');
    twins = await a.createInstitution('0006');
    bare = await a.createInstitution('0007');
    atB = await b.createInstitution('0201');

    await seedRegister(a.db, target.id, [
      row({ nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ', customerNumber: 'C1' }),
      row({ nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ', customerNumber: 'C1', branchCode: '002', accountType: 'savings' }),
      row({ nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ', customerNumber: 'C1', status: 'closed' }),
    ]);
    await seedRegister(a.db, twins.id, [row({ customerNumber: 'T1' }), row({ customerNumber: 'T2' })]);
    await seedRegister(b.db, atB.id, [row({ nameKana: 'ﾋﾟｱ ﾊﾅｺ', customerNumber: 'B1', birthDate: '1975-05-05' })]);

    sim = await startSimulator({ nodes: 3, seed: 7, hitRate: 0.3, ambiguousRate: 0.3, faults: { latencyMs: 5 }, overrides: [{ nodes: [2], down: true }] });
    const nodeA = (await a.http.get('/v1/node').expect(200)).body;
    const nodeB = (await b.http.get('/v1/node').expect(200)).body;
    await sim.trust(nodeA);
    for (const registration of sim.manifest) await a.http.post('/v1/peers').set(a.admin).send(registration).expect(201);
    await a.http.post('/v1/peers').set(a.admin).send({ ...nodeB, endpointUrl: bUrl, institutions: [{ code: '0201', name: 'Bank 0201' }] }).expect(201);
    // B only needs A's keys: it never calls A.
    await b.http.post('/v1/peers').set(b.admin).send({ ...nodeA, endpointUrl: 'http://127.0.0.1:9', institutions: [{ code: '0001', name: 'Bank 0001' }] }).expect(201);
    identityA = a.app.get<NodeIdentity>(NODE_IDENTITY);
    stranger = (await generateNodeIdentity('stranger-node')).identity;
    await a.startWorker();
  });

  afterAll(async () => {
    await sim?.close();
    await b?.close();
    await a?.close();
  });

  describe('validation', () => {
    const numberingRows = async () => Number((await a.db.query(`SELECT count(*) FROM inquiries WHERE kind = 'numbering'`))[0].count);

    it('refuses bad requests with 422 and a stable code, writing nothing and never echoing the number', async () => {
      const before = await numberingRows();
      const n = number();
      const cases: [Record<string, unknown>, string, string?][] = [
        [body(invalidMyNumber(1)), 'INVALID_MY_NUMBER'],
        [body(n, {}, { address: undefined }), 'VALIDATION_FAILED', 'subject.address'],
        [body(n, {}, { address: '' }), 'VALIDATION_FAILED', 'subject.address'],
        [body(n, {}, { address: 'あ'.repeat(201) }), 'VALIDATION_FAILED', 'subject.address'],
        [body(n, {}, { address: `霞が関 ${validMyNumber(99)}` }), 'VALIDATION_FAILED', 'subject.address'],
        [body(n, {}, { postalCode: '12-345' }), 'VALIDATION_FAILED', 'subject.postalCode'],
        [body(n, {}, { nameKana: 'Yamada' }), 'VALIDATION_FAILED', 'subject.nameKana'],
        [body(n, { verification: { numberDocument: 'passport', identityDocument: 'passport' } }), 'VALIDATION_FAILED', 'verification.numberDocument'],
        [body(n, { consentAt: new Date(Date.now() + 3_600_000).toISOString() }), 'VALIDATION_FAILED', 'consentAt'],
        [body(n, { targetInstitutions: [] }), 'VALIDATION_FAILED', 'targetInstitutions'],
        [body(n, { targetInstitutions: ['0005', '0005'] }), 'VALIDATION_FAILED', 'targetInstitutions'],
        [body(n, { targetInstitutions: ['5'] }), 'VALIDATION_FAILED', 'targetInstitutions'],
        [body(n, { targetInstitutions: ['0005', '0001'] }), 'TARGET_IS_REQUESTER'],
        [body(n, { targetInstitutions: ['0005', '9999'] }), 'UNKNOWN_INSTITUTION'],
      ];
      for (const [payload, code, path] of cases) {
        const res = await a.http.post(PATH).set(requester.auth).send(payload);
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code });
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        if (path) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
        expect(res.text).not.toContain(n);
        expect(res.text).not.toContain(invalidMyNumber(1));
        expect(res.text).not.toContain(validMyNumber(99));
      }
      expect(await numberingRows()).toBe(before);
    });

    it('needs linkages:write to ask and linkages:read to look', async () => {
      const reader = await a.createInstitution('0008', ['linkages:read']);
      const inquirer = await a.createInstitution('0009', ['inquiries:write', 'inquiries:read']);
      expect((await a.http.post(PATH).set(reader.auth).send(body(number()))).body.code).toBe('FORBIDDEN_SCOPE');
      expect((await a.http.get(PATH).set(inquirer.auth)).body.code).toBe('FORBIDDEN_SCOPE');
      expect((await a.http.post(PATH).send(body(number()))).status).toBe(401);
    });
  });

  describe('hosted targets', () => {
    it('attaches where one customer matches; ambiguous and no-match attach nothing', async () => {
      const myNumber = number();
      const id = await request(body(myNumber, { targetInstitutions: ['0005', '0006', '0007'] }));
      const view = await final(id);
      expect(view).toMatchObject({ id, status: 'completed', branchCode: '010', progress: { total: 3, answered: 3, failed: 0 } });
      expect(view.results).toEqual([
        { institutionCode: '0005', institutionName: 'Bank 0005', status: 'attached', accounts: 2 },
        { institutionCode: '0006', institutionName: 'Bank 0006', status: 'ambiguous', reason: 'several-customers' },
        { institutionCode: '0007', institutionName: 'Bank 0007', status: 'no-match', reason: 'no-register' },
      ]);
      expect(JSON.stringify(view)).not.toContain(myNumber);

      // The target's tellers see the linkages, made as a teller's would be.
      const found = await a.http.get('/v1/linkages').query({ branchCode: '002', accountType: 'savings', accountNumber: '0100002' }).set(target.auth).expect(200);
      expect(found.body.items).toHaveLength(1);
      expect(found.body.items[0].subject.myNumberMasked).toBe(`********${myNumber.slice(-4)}`);
      const attached = await a.db.query(
        `SELECT count(*)::int AS n FROM attachments WHERE numbering_request_id = $1`,
        [id],
      );
      expect(attached[0].n).toBeGreaterThan(0);
      const audit = await a.db.query(
        `SELECT e.action, i.code FROM audit_events e JOIN institutions i ON i.id = e.institution_id
          WHERE e.action IN ('numbering.attach', 'numbering.create', 'numbering.complete', 'numbering.read')
            AND (e.resource_id = $1 OR e.details::text LIKE '%' || $1 || '%') ORDER BY e.id`,
        [id],
      );
      const actions = audit.map((r: { action: string; code: string }) => `${r.action}@${r.code}`);
      expect(actions).toEqual(expect.arrayContaining(['numbering.create@0001', 'numbering.attach@0005', 'numbering.complete@0001', 'numbering.read@0001']));
      expect(actions.filter((x: string) => x.startsWith('numbering.attach'))).toEqual(['numbering.attach@0005']);
      // Nothing attached at the ambiguous target.
      expect((await a.db.query(`SELECT count(*)::int AS n FROM linkages WHERE institution_id = $1`, [twins.id]))[0].n).toBe(0);

      // Final: the number's ciphertext and the address are gone; the fan-out's answer stays.
      const [stored] = await a.db.query(`SELECT my_number_ciphertext, address, name_kana FROM inquiries WHERE id = $1`, [id]);
      expect(stored.my_number_ciphertext).toBeNull();
      expect(stored.address).toBeNull();
    });

    it('without targets asks every known institution but the requester', async () => {
      const id = await request(body(number(), {}, { nameKana: 'ダレモ イナイ' }));
      const view = await final(id);
      const codes = view.results.map((r: any) => r.institutionCode);
      expect(codes).not.toContain('0001');
      expect(codes).toEqual(expect.arrayContaining(['0005', '0006', '0007', '0201', '5000', '5001', '5002']));
      expect(view.status).toBe('partial');
    });
  });

  describe('peer targets', () => {
    /** A number whose notice the simulated institution 5000 answers with `status`. */
    const numberFor = (status: string) => {
      for (;;) {
        const n = number();
        if (sim.numberingAt(n, '5000').status === status) return n;
      }
    };

    it('simulated nodes answer attached, no-match or ambiguous; one that is down makes the request partial', async () => {
      const numbers = ['attached', 'no-match', 'ambiguous'].map(numberFor);
      const ids = await Promise.all(numbers.map((n) => request(body(n, { targetInstitutions: ['5000', '5001', '5002'] }))));
      const views = await Promise.all(ids.map((id) => final(id)));
      views.forEach((view, i) => {
        expect(view.status).toBe('partial');
        expect(view.progress).toEqual({ total: 3, answered: 2, failed: 1 });
        const expected = (code: string) => {
          const r = sim.numberingAt(numbers[i], code);
          return { institutionCode: code, status: r.status, ...(r.accounts ? { accounts: r.accounts } : {}) };
        };
        expect(statuses(view)).toEqual([expected('5000'), expected('5001'), { institutionCode: '5002', status: 'unreachable' }]);
      });
      expect(views.map((v) => v.results[0].status)).toEqual(['attached', 'no-match', 'ambiguous']);
    });

    it('a real second node receives the notice, attaches, audits, and answers', async () => {
      const myNumber = number();
      const id = await request(body(myNumber, { targetInstitutions: ['0201'] }, { nameKana: 'ピア ハナコ', birthDate: '1975-05-05' }));
      const view = await final(id);
      expect(view.status).toBe('completed');
      expect(statuses(view)).toEqual([{ institutionCode: '0201', status: 'attached', accounts: 1 }]);
      const found = await b.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary', accountNumber: '0100006' }).set(atB.auth).expect(200);
      expect(found.body.items).toHaveLength(1);
      const audit = await b.db.query(
        `SELECT action, actor_type, details FROM audit_events
          WHERE action IN ('numbering.attach', 'peer.numbering.answered') AND details::text LIKE '%' || $1 || '%' ORDER BY id`,
        [id],
      );
      expect(audit.map((r: { action: string; actor_type: string }) => `${r.action}/${r.actor_type}`)).toEqual([
        'numbering.attach/peer',
        'peer.numbering.answered/peer',
      ]);
      expect(audit[1].details).toMatchObject({ institution: '0201', status: 'attached', accounts: 1, origin: { requestId: id, institutionCode: '0001' } });
      expect(JSON.stringify(audit)).not.toContain(myNumber);
    });

    it('each peer route takes only its own typ of message, from a registered node', async () => {
      const nodeB = (await b.http.get('/v1/node')).body;
      const keysOfB = await importPeerKeys(nodeB.nodeId, nodeB.signingKey, nodeB.encryptionKey);
      const iat = epochSeconds();
      const claims = (typ: string, rest: Record<string, unknown>) => ({ v: PROTOCOL_VERSION, typ, iss: identityA.nodeId, aud: nodeB.nodeId, jti: newMessageId(), iat, exp: iat + 60, ...rest });
      const query = claims('location-query', { purpose: 'inheritance', queries: [{ ref: 'r', myNumber: number(), ...LINKAGE_SUBJECT }] });
      const notice = claims('numbering-notice', {
        purpose: 'numbering',
        notices: [
          {
            ref: 'n',
            myNumber: number(),
            nameKana: 'ﾀﾞﾚﾓ ｲﾅｲ',
            birthDate: '1980-04-01',
            address: '千代田区1-1',
            institutions: ['0201'],
            origin: { requestId: newMessageId(), institutionCode: '0001', branchCode: '010', operatorId: 'T1' },
            verification: { numberDocument: 'my-number-card', identityDocument: 'passport' },
            consentAt: new Date().toISOString(),
          },
        ],
      });
      const post = async (path: string, message: Record<string, unknown>, from: NodeIdentity = identityA) =>
        b.http.post(path).set('content-type', 'application/jose').send(await sealEnvelope(message, from, keysOfB));
      const refused = (res: { status: number; body: { code?: string } }) =>
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 401, code: 'PEER_MESSAGE_REFUSED' });

      // Node A is registered at B: its messages are refused on the other route only.
      refused(await post('/v1/peer/numbering-notices', query));
      refused(await post('/v1/peer/location-queries', notice));
      // Refused before their jti was recorded: the right route still takes them.
      expect((await post('/v1/peer/location-queries', query)).status).toBe(200);
      expect((await post('/v1/peer/numbering-notices', notice)).status).toBe(200);
      // Replayed, and from a node B does not know.
      refused(await post('/v1/peer/numbering-notices', notice));
      refused(await post('/v1/peer/numbering-notices', { ...notice, jti: newMessageId(), iss: stranger.nodeId }, stranger));
      // Not an envelope at all.
      refused(await b.http.post('/v1/peer/numbering-notices').set('content-type', 'application/json').send({ notices: [] }));

      // A speaks for 0001 only (as registered at B): a notice from another origin is refused, logged, and attaches nothing.
      const [template] = (notice as Record<string, any>).notices as Record<string, any>[];
      const foreign = {
        ...notice,
        jti: newMessageId(),
        notices: [template, { ...template, ref: 'n2', myNumber: number(), origin: { ...template.origin, institutionCode: '0005' } }],
      };
      const attachmentsBefore = (await b.db.pool.query(`SELECT count(*)::int AS n FROM linkages`)).rows[0].n;
      const res = await post('/v1/peer/numbering-notices', foreign);
      expect({ status: res.status, code: res.body.code, origins: res.body.origins }).toEqual({
        status: 403,
        code: 'PEER_ORIGIN_NOT_REGISTERED',
        origins: ['0005'],
      });
      expect((await b.db.pool.query(`SELECT count(*)::int AS n FROM linkages`)).rows[0].n).toBe(attachmentsBefore);
      const logged = [...a.logs.lines, ...b.logs.lines].map((l) => JSON.parse(l)).filter((l) => l.reason === 'origin-not-behind-peer');
      expect(logged).toContainEqual(expect.objectContaining({ peerNodeId: identityA.nodeId, origins: ['0005'] }));
    });
  });

  describe('requests', () => {
    it('honours Idempotency-Key: a replay answers the same request; another body is refused', async () => {
      const payload = body(number(), { targetInstitutions: ['0007'] });
      const first = await a.http.post(PATH).set(requester.auth).set('Idempotency-Key', 'num-1').send(payload).expect(202);
      const again = await a.http.post(PATH).set(requester.auth).set('Idempotency-Key', 'num-1').send(payload).expect(202);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      const other = await a.http.post(PATH).set(requester.auth).set('Idempotency-Key', 'num-1').send({ ...payload, operatorId: 'T0200' });
      expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect((await a.db.query(`SELECT count(*)::int AS n FROM inquiries WHERE id = $1`, [first.body.id]))[0].n).toBe(1);
      await final(first.body.id);
    });

    it('is seen only by its institution, and only as a numbering request', async () => {
      const id = await request(body(number(), { targetInstitutions: ['0007'] }));
      await final(id);
      expect((await a.http.get(`${PATH}/${id}`).set(target.auth)).status).toBe(404);
      expect((await a.http.get(`/v1/inquiries/${id}`).set(requester.auth)).status).toBe(404);
      expect((await a.http.get(`${PATH}/not-a-uuid`).set(requester.auth)).status).toBe(404);
      const inquiry = await a.http.post('/v1/inquiries').set(requester.auth).send(inheritanceBody(number(), { targetInstitutions: ['0007'] })).expect(202);
      expect((await a.http.get(`${PATH}/${inquiry.body.id}`).set(requester.auth)).status).toBe(404);

      const list = await a.http.get(PATH).set(requester.auth).expect(200);
      expect(list.body.items.map((i: { id: string }) => i.id)).toContain(id);
      expect(list.body.items.map((i: { id: string }) => i.id)).not.toContain(inquiry.body.id);
      const inquiries = await a.http.get('/v1/inquiries').set(requester.auth).expect(200);
      expect(inquiries.body.items.map((i: { id: string }) => i.id)).not.toContain(id);
      expect((await a.http.get(PATH).set(target.auth).expect(200)).body.items).toEqual([]);
    });

    it('tells the requesting institution by a webhook when the request is final', async () => {
      const received: any[] = [];
      const receiver = createServer((req, res) => {
        let text = '';
        req.on('data', (chunk) => (text += chunk));
        req.on('end', () => {
          received.push(JSON.parse(text));
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
        await a.http.put('/v1/institutions/0001/webhook').set(a.admin).send({ url }).expect(200);
        const myNumber = number();
        const id = await request(body(myNumber, { targetInstitutions: ['0006'] }));
        await final(id);
        const events = await eventually(async () => received, (r) => r.some((e) => e.data?.numberingRequestId === id));
        expect(events.find((e) => e.data?.numberingRequestId === id)).toMatchObject({
          type: 'numbering-request.completed',
          data: { numberingRequestId: id, status: 'completed' },
        });
        expect(JSON.stringify(events)).not.toContain(myNumber);
      } finally {
        await a.http.delete('/v1/institutions/0001/webhook').set(a.admin);
        receiver.close();
      }
    });
  });
});
