import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { epochSeconds, generateNodeIdentity, importPeerKeys, sealEnvelope, type NodeIdentity, type PeerKeys } from '../../src/peers/envelope.js';
import { newMessageId, PROTOCOL_VERSION } from '../../src/peers/peer-messages.js';
import { finalInquiry, inheritanceBody, FINAL, LINKAGE_SUBJECT } from './support/inquiries.js';
import { invalidMyNumber, validMyNumber } from './support/my-numbers.js';
import { seedRegister, type RegisterRowInput } from './support/register.js';
import { eventually, linkageBody, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';

const PATH = '/v1/access-history';
const BIRTH = '1980-04-01';
const REGISTER_ADDRESS = '千代田区霞ケ関１－２－３';
const ADDRESS = '東京都千代田区霞が関1丁目2番3号';

/**
 * One node hosting 0005 (a teller attaches the depositor's number), 0006 and 0008
 * (registers holding the depositor: numbered by a local numbering request and by a
 * peer's numbering-notice), and 0007 (holds nothing: the heir's inquiry and the
 * depositor's history are asked there). A hand-made peer node P queries the node.
 * Another depositor's events happen alongside and must never show.
 */
describe('POST /v1/access-history', () => {
  let t: TestApp;
  let attacher: TestInstitution;
  let numbered: TestInstitution;
  let asker: TestInstitution;
  let peerTarget: TestInstitution;
  let peer: NodeIdentity;
  let keysOfNode: PeerKeys;
  const depositor = validMyNumber(50_505_050);
  const other = validMyNumber(60_606_060);
  const stranger = validMyNumber(70_707_070);
  let linkageId: string;
  let otherLinkageId: string;
  let inquiryId: string;
  let numberingId: string;

  const historyBody = (myNumber: string, overrides: Record<string, unknown> = {}) => ({
    branchCode: '077',
    operatorId: 'T7777',
    subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: BIRTH },
    verification: { identityDocument: 'drivers-license' },
    ...overrides,
  });
  const history = async (myNumber: string, overrides: Record<string, unknown> = {}, who: TestInstitution = asker) =>
    (await t.http.post(PATH).set(who.auth).send(historyBody(myNumber, overrides)).expect(200)).body;

  const registerRow = (n: number): RegisterRowInput => ({
    branchCode: '001',
    accountType: 'ordinary',
    accountNumber: String(200_000 + n).padStart(7, '0'),
    customerNumber: 'C1',
    nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
    birthDate: BIRTH,
    address: REGISTER_ADDRESS,
  });

  beforeAll(async () => {
    t = await startTestApp({ env: { INQUIRY_DEADLINE_SECONDS: '60', RECONCILE_INTERVAL_MS: '500' } });
    attacher = await t.createInstitution('0005');
    numbered = await t.createInstitution('0006');
    asker = await t.createInstitution('0007');
    peerTarget = await t.createInstitution('0008');
    await seedRegister(t.db, numbered.id, [registerRow(1)]);
    await seedRegister(t.db, peerTarget.id, [registerRow(2)]);
    await t.startWorker();

    // The teller's actions at 0005: attach, read, find by account, revoke.
    const attached = await t.http.post('/v1/linkages').set(attacher.auth).send(linkageBody(depositor)).expect(201);
    linkageId = attached.body.linkages[0].id;
    await t.http.get(`/v1/linkages/${linkageId}`).set(attacher.auth).expect(200);
    await t.http.get('/v1/linkages?branchCode=001&accountType=ordinary&accountNumber=0012345').set(attacher.auth).expect(200);
    // Another depositor at the same institution, read too.
    const otherAttached = await t.http
      .post('/v1/linkages')
      .set(attacher.auth)
      .send(linkageBody(other, { accounts: [{ branchCode: '002', accountType: 'savings', accountNumber: '0099999' }] }))
      .expect(201);
    otherLinkageId = otherAttached.body.linkages[0].id;
    await t.http.get(`/v1/linkages/${otherLinkageId}`).set(attacher.auth).expect(200);

    // A numbering request from 0005 attaches the number at 0006.
    const numberingBody = {
      branchCode: '001',
      operatorId: 'T0042',
      subject: { myNumber: depositor, nameKana: 'ヤマダ タロウ', birthDate: BIRTH, address: ADDRESS },
      verification: { numberDocument: 'my-number-card', identityDocument: 'drivers-license' },
      consentAt: new Date(Date.now() - 60_000).toISOString(),
      targetInstitutions: ['0006'],
    };
    numberingId = (await t.http.post('/v1/numbering-requests').set(attacher.auth).send(numberingBody).expect(202)).body.id;
    const numberingView = (
      await eventually(
        () => t.http.get(`/v1/numbering-requests/${numberingId}`).set(attacher.auth),
        (r) => r.status === 200 && FINAL.includes(r.body.status),
        30_000,
      )
    ).body;
    expect(numberingView.results).toEqual([expect.objectContaining({ institutionCode: '0006', status: 'attached' })]);
    await t.http.post(`/v1/linkages/${linkageId}/revocation`).set(attacher.auth).send({ reason: 'depositor-request', branchCode: '001', operatorId: 'T0042' }).expect(200);

    // A peer node P asks where the number is held, and has it numbered at 0008.
    peer = (await generateNodeIdentity('peer-p')).identity;
    await t.http
      .post('/v1/peers')
      .set(t.admin)
      .send({ nodeId: peer.nodeId, endpointUrl: 'http://127.0.0.1:9', signingKey: peer.signingJwk, encryptionKey: peer.encryptionJwk, institutions: [{ code: '0099', name: 'Bank P' }] })
      .expect(201);
    const node = (await t.http.get('/v1/node').expect(200)).body;
    keysOfNode = await importPeerKeys(node.nodeId, node.signingKey, node.encryptionKey);
    const claims = (typ: string, rest: Record<string, unknown>) => {
      const iat = epochSeconds();
      return { v: PROTOCOL_VERSION, typ, iss: peer.nodeId, aud: node.nodeId, jti: newMessageId(), iat, exp: iat + 60, ...rest };
    };
    const send = async (path: string, message: Record<string, unknown>) =>
      t.http.post(path).set('content-type', 'application/jose').send(await sealEnvelope(message, peer, keysOfNode)).expect(200);
    await send('/v1/peer/location-queries', claims('location-query', { purpose: 'disaster', queries: [{ ref: 'p-1', myNumber: depositor, ...LINKAGE_SUBJECT }, { ref: 'p-2', myNumber: other, ...LINKAGE_SUBJECT }] }));
    await send(
      '/v1/peer/numbering-notices',
      claims('numbering-notice', {
        purpose: 'numbering',
        notices: [
          {
            ref: 'n-1',
            myNumber: depositor,
            nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
            birthDate: BIRTH,
            address: ADDRESS,
            institutions: ['0008'],
            origin: { requestId: newMessageId(), institutionCode: '0099', branchCode: '301', operatorId: 'P-T1' },
            verification: { numberDocument: 'my-number-card', identityDocument: 'passport' },
            consentAt: new Date().toISOString(),
          },
        ],
      }),
    );

    // An heir asks at 0007 where the (deceased) depositor held accounts on this node.
    const inquiry = await t.http
      .post('/v1/inquiries')
      .set(asker.auth)
      .send(inheritanceBody(depositor, { subject: { myNumber: depositor, nameKana: 'ヤマダ タロウ', birthDate: BIRTH, dateOfDeath: '2026-10-01' }, targetInstitutions: ['0005', '0006', '0008'] }))
      .expect(202);
    inquiryId = inquiry.body.id;
    const view = await finalInquiry(t, asker, inquiryId, 30_000);
    expect(view.status).toBe('completed');
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  const summary = (items: any[]) => items.map((i) => `${i.action}@${i.institution?.code ?? '-'}`);
  const allItems = async (myNumber: string, limit: number) => {
    const items: any[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const body = await history(myNumber, { limit, ...(cursor ? { cursor } : {}) });
      expect(body.items.length).toBeLessThanOrEqual(limit);
      items.push(...body.items);
      if (!body.nextCursor) return items;
      cursor = body.nextCursor;
    }
    throw new Error('no last page');
  };

  it('lists every event about the number across the hosted institutions, newest first, with its purpose', async () => {
    const { items, nextCursor } = await history(depositor, { limit: 200 });
    expect(nextCursor).toBeNull();
    const actions = summary(items);
    for (const expected of [
      'attached@0005',
      'read@0005',
      'found-by-account@0005',
      'revoked@0005',
      'numbering-requested@0005',
      'numbering-attached@0006',
      'numbering-result-read@0005',
      'numbering-completed@0005',
      'peer-query-answered@0006',
      'peer-numbering-answered@0008',
      'numbering-attached@0008',
      'inquiry-inheritance@0007',
      'located-by-inquiry@0006',
      'located-by-inquiry@0008',
      'reported-deceased@0006',
      'reported-deceased@0008',
      'inquiry-completed@0007',
      'inquiry-result-read@0007',
    ]) {
      expect(actions).toContain(expected);
    }
    // Newest first.
    const times = items.map((i: any) => Date.parse(i.at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);

    const byAction = (action: string) => items.filter((i: any) => i.action === action);
    expect(byAction('attached')[0]).toEqual({
      at: expect.any(String),
      institution: { code: '0005', name: 'Bank 0005' },
      branchCode: '001',
      actor: 'institution',
      action: 'attached',
      purpose: 'account-numbering',
      reference: { type: 'attachment', id: expect.any(String) },
    });
    expect(byAction('read')).toEqual([expect.objectContaining({ reference: { type: 'linkage', id: linkageId } })]);
    expect(byAction('inquiry-inheritance')).toEqual([
      expect.objectContaining({ actor: 'institution', branchCode: '010', purpose: 'inheritance', reference: { type: 'inquiry', id: inquiryId } }),
    ]);
    expect(byAction('inquiry-completed')).toEqual([expect.objectContaining({ actor: 'system', purpose: 'inheritance' })]);
    expect(byAction('numbering-requested')).toEqual([
      expect.objectContaining({ purpose: 'numbering-request', reference: { type: 'numbering-request', id: numberingId } }),
    ]);
    expect(byAction('peer-query-answered')).toEqual([
      expect.objectContaining({ actor: 'peer', peerNodeId: peer.nodeId, purpose: 'disaster', institution: { code: '0006', name: 'Bank 0006' } }),
    ]);
    const peerNumbered = items.find((i: any) => i.action === 'numbering-attached' && i.institution.code === '0008');
    expect(peerNumbered).toEqual(
      expect.objectContaining({ actor: 'peer', peerNodeId: peer.nodeId, requestedAt: { institutionCode: '0099', branchCode: '301' } }),
    );
    expect(peerNumbered.branchCode).toBeUndefined();
    const localNumbered = items.find((i: any) => i.action === 'numbering-attached' && i.institution.code === '0006');
    expect(localNumbered).toEqual(expect.objectContaining({ actor: 'institution', requestedAt: { institutionCode: '0005', branchCode: '001' } }));
    // The revoked linkage at 0005 was no longer active: the inquiry found 0006 and 0008.
    expect(byAction('reported-deceased')).toEqual([
      expect.objectContaining({ institution: expect.objectContaining({ code: expect.stringMatching(/^000[68]$/) }), requestedAt: { institutionCode: '0007', branchCode: '010' } }),
      expect.objectContaining({ requestedAt: { institutionCode: '0007', branchCode: '010' } }),
    ]);
  });

  it("never shows another subject's events, operator secrets or the number", async () => {
    const res = await t.http.post(PATH).set(asker.auth).send(historyBody(depositor, { limit: 200 })).expect(200);
    const text = res.text;
    expect(text).not.toContain(depositor);
    expect(text).not.toContain(otherLinkageId);
    expect(text).not.toContain('T0042');
    expect(text).not.toContain('P-T1');
    const { rows: keys } = await t.db.pool.query(`SELECT id::text FROM api_keys`);
    for (const { id } of keys) expect(text).not.toContain(id);
    const { rows: otherSubject } = await t.db.pool.query(
      `SELECT DISTINCT l.subject_id::text AS id FROM linkages l WHERE l.id = $1`,
      [otherLinkageId],
    );
    expect(text).not.toContain(otherSubject[0].id);
    for (const item of res.body.items) {
      expect(Object.keys(item).sort()).toEqual(
        expect.arrayContaining(['action', 'actor', 'at', 'institution', 'purpose']),
      );
      for (const key of Object.keys(item)) {
        expect(['at', 'institution', 'branchCode', 'actor', 'peerNodeId', 'action', 'purpose', 'requestedAt', 'reference']).toContain(key);
      }
    }
    // The other depositor's history has their own attach and read, none of this one's.
    const others = await history(other, { subject: { myNumber: other, birthDate: BIRTH } });
    expect(summary(others.items).filter((a) => a !== 'history-read@0007').sort()).toEqual(['attached@0005', 'peer-query-answered@0005', 'read@0005']);
  });

  it('pages newest first with an opaque cursor: the pages together are the whole list, each item once', async () => {
    const whole = (await history(depositor, { limit: 200 })).items;
    const paged = await allItems(depositor, 3);
    expect(paged.length).toBeGreaterThan(9);
    // The first page was read after the whole list, whose read is now the newest event;
    // the reads of the later pages are newer than the cursor and do not shift it.
    expect(paged[0]).toEqual(expect.objectContaining({ action: 'history-read' }));
    expect(paged.slice(1)).toEqual(whole);
  });

  it('audits the request, with the subjects found, and shows it in the next call', async () => {
    const before = await t.db.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'access-history.read'`);
    await history(depositor, { purpose: 'legal-representative-request' });
    const { rows } = await t.db.pool.query(
      `SELECT e.institution_id, e.branch_code, e.operator_id, e.subject_id::text AS subject_id, e.details
         FROM audit_events e WHERE e.action = 'access-history.read' ORDER BY e.id DESC LIMIT 1`,
    );
    const { rows: subjects } = await t.db.pool.query(
      `SELECT s.id::text AS id FROM subjects s JOIN linkages l ON l.subject_id = s.id
        WHERE l.id <> $1 GROUP BY s.id`,
      [otherLinkageId],
    );
    const after = await t.db.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'access-history.read'`);
    // One row for the request, naming the subjects of the number at 0005, 0006 and 0008.
    expect(after.rows[0].n - before.rows[0].n).toBe(1);
    const [row] = rows;
    const found = subjects.map((s) => s.id).sort();
    expect(found).toHaveLength(3);
    expect(row).toMatchObject({ institution_id: asker.id, branch_code: '077', operator_id: 'T7777', subject_id: found[0] });
    expect(row.details).toMatchObject({ purpose: 'legal-representative-request', identityDocument: 'drivers-license', subjectIds: found });
    const next = await history(depositor);
    expect(next.items[0]).toEqual(
      expect.objectContaining({ action: 'history-read', actor: 'institution', branchCode: '077', purpose: 'legal-representative-request', institution: { code: '0007', name: 'Bank 0007' } }),
    );
  });

  it('answers an empty list for a number never seen, or seen under another birth date, and audits that too', async () => {
    const before = await t.db.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'access-history.read' AND subject_id IS NULL`);
    expect(await history(stranger)).toEqual({ items: [], nextCursor: null });
    expect(await history(depositor, { subject: { myNumber: depositor, birthDate: '1981-04-01' } })).toEqual({ items: [], nextCursor: null });
    const after = await t.db.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'access-history.read' AND subject_id IS NULL`);
    expect(after.rows[0].n - before.rows[0].n).toBe(2);
    // Still nothing the next time: a read of nothing names no subject.
    expect(await history(stranger)).toEqual({ items: [], nextCursor: null });
  });

  it('finds a number held nowhere here by the inquiries about it, and shows the read of it next time', async () => {
    const heldNowhere = validMyNumber(80_808_080);
    const subject = { myNumber: heldNowhere, nameKana: 'ヤマダ タロウ', birthDate: BIRTH, dateOfDeath: '2026-10-01' };
    const id = (await t.http.post('/v1/inquiries').set(asker.auth).send(inheritanceBody(heldNowhere, { subject, targetInstitutions: ['0005'] })).expect(202)).body.id;
    expect((await finalInquiry(t, asker, id, 30_000)).status).toBe('completed');
    const first = await history(heldNowhere);
    // Oldest last; waiting for the result read it (maybe more than once).
    expect(summary(first.items).at(-1)).toBe('inquiry-inheritance@0007');
    expect(summary(first.items)[0]).toBe('inquiry-result-read@0007');
    expect(new Set(summary(first.items))).toEqual(new Set(['inquiry-result-read@0007', 'inquiry-completed@0007', 'inquiry-inheritance@0007']));
    expect(first.items.every((i: any) => i.reference?.id === id)).toBe(true);
    const next = await history(heldNowhere);
    expect(summary(next.items)).toEqual(['history-read@0007', ...summary(first.items)]);
    expect(next.items[0].reference).toBeUndefined();
  });

  it('refuses invalid requests with 422, never echoing the number', async () => {
    const wrong = invalidMyNumber(1234);
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [historyBody(wrong), 'INVALID_MY_NUMBER', 'subject.myNumber'],
      [{ ...historyBody(depositor), verification: undefined }, 'VALIDATION_FAILED', 'verification'],
      [historyBody(depositor, { verification: { identityDocument: 'library-card' } }), 'VALIDATION_FAILED', 'verification.identityDocument'],
      [historyBody(depositor, { limit: 201 }), 'VALIDATION_FAILED', 'limit'],
      [historyBody(depositor, { limit: 0 }), 'VALIDATION_FAILED', 'limit'],
      [historyBody(depositor, { cursor: 'not-a-cursor' }), 'VALIDATION_FAILED', 'cursor'],
      [historyBody(depositor, { cursor: Buffer.from(`h1.${depositor}`).toString('base64url') }), 'VALIDATION_FAILED', 'cursor'],
      [historyBody(depositor, { purpose: 'curiosity' }), 'VALIDATION_FAILED', 'purpose'],
      [historyBody(depositor, { operatorId: depositor }), 'VALIDATION_FAILED', 'operatorId'],
      [historyBody(depositor, { extra: depositor }), 'VALIDATION_FAILED', 'extra'],
    ];
    for (const [body, code, path] of cases) {
      const res = await t.http.post(PATH).set(asker.auth).send(body);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.errors.map((e: any) => e.path)).toContain(path);
      expect(res.text).not.toContain(depositor);
      expect(res.text).not.toContain(wrong);
    }
  });

  it('needs history:read (403), and a key (401)', async () => {
    const noScope = await t.createInstitution('0010', ['linkages:read', 'inquiries:read']);
    const res = await t.http.post(PATH).set(noScope.auth).send(historyBody(depositor));
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 403, code: 'FORBIDDEN_SCOPE' });
    expect(res.text).not.toContain(depositor);
    expect((await t.http.post(PATH).send(historyBody(depositor))).status).toBe(401);
    // The operator key is not a branch: the history is asked through an institution.
    expect((await t.http.post(PATH).set(t.admin).send(historyBody(depositor))).status).toBe(403);
  });
});
