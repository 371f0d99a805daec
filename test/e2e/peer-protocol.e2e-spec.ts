import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HOSTED_LOCATE_SQL } from '../../src/locations/hosted-locations.js';
import {
  epochSeconds,
  generateNodeIdentity,
  importPeerKeys,
  openEnvelope,
  sealEnvelope,
  type NodeIdentity,
  type PeerKeys,
} from '../../src/peers/envelope.js';
import { PeerClient, PeerUnreachableError, type PeerNode } from '../../src/peers/peer-client.js';
import { PeerMessageIdsRepository } from '../../src/peers/peer-message-ids.repository.js';
import { newMessageId, PROTOCOL_VERSION } from '../../src/peers/peer-messages.js';
import { PeersRepository } from '../../src/peers/peers.repository.js';
import { NODE_IDENTITY } from '../../src/peers/peers.tokens.js';
import { databaseText } from './support/database-text.js';
import { DEATH_CLAIM, LINKAGE_SUBJECT } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';

const QUERIES_PATH = '/v1/peer/location-queries';

interface NodeBody {
  nodeId: string;
  signingKey: Record<string, string>;
  encryptionKey: Record<string, string>;
}

/** Replaces one base64url segment of a compact serialization with a one-bit-flipped copy. */
function flipBit(compact: string, segment: number): string {
  const parts = compact.split('.');
  const bytes = Buffer.from(parts[segment], 'base64url');
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  parts[segment] = bytes.toString('base64url');
  return parts.join('.');
}

const registration = (node: NodeBody, endpointUrl: string, institutions: { code: string; name: string }[]) => ({
  nodeId: node.nodeId,
  endpointUrl,
  signingKey: node.signingKey,
  encryptionKey: node.encryptionKey,
  institutions,
});

const nodeBodyOf = (identity: NodeIdentity): NodeBody => ({
  nodeId: identity.nodeId,
  signingKey: identity.signingJwk as Record<string, string>,
  encryptionKey: identity.encryptionJwk as Record<string, string>,
});

/**
 * Two real kouza-hub nodes, A and B, each registered as the other's peer from what
 * GET /v1/node publishes. B hosts institution 0009 with a linkage; A asks B.
 */
describe('node-to-node protocol', () => {
  let a: TestApp;
  let b: TestApp;
  let nodeA: NodeBody;
  let nodeB: NodeBody;
  let identityA: NodeIdentity;
  let keysOfB: PeerKeys;
  let bankB: TestInstitution;
  const deceased = validMyNumber(31_415_926);
  const stranger = validMyNumber(27_182_818);
  const sentNumbers = [deceased, stranger];

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestApp(), startTestApp()]);
    await b.app.listen({ port: 0, host: '127.0.0.1' });
    const bUrl = `http://127.0.0.1:${(b.app.getHttpServer().address() as AddressInfo).port}`;

    nodeA = (await a.http.get('/v1/node').expect(200)).body;
    nodeB = (await b.http.get('/v1/node').expect(200)).body;
    await a.http.post('/v1/peers').set(a.admin).send(registration(nodeB, bUrl, [{ code: '0009', name: 'Bank B' }, { code: '0010', name: 'Bank B2' }])).expect(201);
    // A does not listen: B never calls it; B only needs A's keys.
    await b.http.post('/v1/peers').set(b.admin).send(registration(nodeA, 'http://127.0.0.1:9', [{ code: '0005', name: 'Bank A' }])).expect(201);

    bankB = await b.createInstitution('0009');
    await b.http
      .post('/v1/linkages')
      .set(bankB.auth)
      .send(
        linkageBody(deceased, {
          accounts: [
            { branchCode: '101', accountType: 'ordinary', accountNumber: '1234567' },
            { branchCode: '102', accountType: 'savings', accountNumber: '7654321' },
          ],
        }),
      )
      .expect(201);

    identityA = a.app.get(NODE_IDENTITY);
    keysOfB = await importPeerKeys(nodeB.nodeId, nodeB.signingKey, nodeB.encryptionKey);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  /**
   * Both apps' log lines, parsed. nestjs-pino keeps its root logger in a static, so with
   * two apps in one process a line may land in either capture.
   */
  const logLines = (): Record<string, any>[] => [...a.logs.lines, ...b.logs.lines].map((l) => JSON.parse(l));

  const peerBAsSeenByA = async (): Promise<PeerNode> =>
    (await a.app.get(PeersRepository).listActive()).find((p) => p.nodeId === nodeB.nodeId)!;

  /** A location-query from A to B, with `changes` applied to its claims. */
  const queryClaims = (changes: Record<string, unknown> = {}) => {
    const iat = epochSeconds();
    return {
      v: PROTOCOL_VERSION,
      typ: 'location-query',
      iss: nodeA.nodeId,
      aud: nodeB.nodeId,
      jti: newMessageId(),
      iat,
      exp: iat + 60,
      purpose: 'inheritance',
      queries: [{ ref: 'q-1', myNumber: deceased, ...LINKAGE_SUBJECT }],
      ...changes,
    };
  };

  const post = (body: string | object, type = 'application/jose') =>
    b.http.post(QUERIES_PATH).set('content-type', type).send(typeof body === 'string' ? body : JSON.stringify(body));

  const expectRefused = (res: { status: number; body: any; text: string; headers: Record<string, string> }) => {
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('PEER_MESSAGE_REFUSED');
    expect(res.body.detail).toBe('The message is refused.');
    // No envelope in the answer.
    expect(res.text).not.toMatch(/[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/);
  };

  describe('GET /v1/node', () => {
    it('publishes the node id and the public halves of its keys, without a key', async () => {
      const res = await a.http.get('/v1/node').expect(200);
      expect(res.body.nodeId).toBe(a.config.NODE_ID);
      expect(res.body.signingKey).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
      expect(res.body.encryptionKey).toEqual({ kty: 'OKP', crv: 'X25519', x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
      expect(JSON.parse(a.env.NODE_SIGNING_KEY).x).toBe(res.body.signingKey.x);
      expect(res.text).not.toContain(JSON.parse(a.env.NODE_SIGNING_KEY).d);
      expect(res.text).not.toContain(JSON.parse(a.env.NODE_ENCRYPTION_KEY).d);
    });
  });

  describe('a query from A answered by B', () => {
    it("finds the accounts at B's institution through PeerClient.locate, and nothing for an unknown number", async () => {
      const result = await a.app.get(PeerClient).locate(await peerBAsSeenByA(), 'inheritance', [
        { ref: 'inq-1', myNumber: deceased, ...LINKAGE_SUBJECT, deceased: DEATH_CLAIM },
        { ref: 'inq-2', myNumber: stranger, ...LINKAGE_SUBJECT },
      ]);
      expect(result).toEqual(
        new Map([
          [
            'inq-1',
            [
              {
                code: '0009',
                accounts: [
                  { branchCode: '101', accountType: 'ordinary', accountNumber: '1234567' },
                  { branchCode: '102', accountType: 'savings', accountNumber: '7654321' },
                ],
              },
            ],
          ],
          ['inq-2', []],
        ]),
      );
    });

    it('audits one row per query answered, with the subject and institution for a match', async () => {
      const { rows } = await b.db.pool.query(
        `SELECT actor_type, institution_id, subject_id, resource_id, details FROM audit_events
          WHERE action = 'peer.location.answered' AND details ->> 'ref' IN ('inq-1', 'inq-2') ORDER BY details ->> 'ref'`,
      );
      const peerA = (await b.http.get(`/v1/peers/${nodeA.nodeId}`).set(b.admin).expect(200)).body;
      expect(rows).toEqual([
        {
          actor_type: 'peer',
          institution_id: bankB.id,
          subject_id: expect.any(String),
          resource_id: peerA.id,
          details: expect.objectContaining({ peerNodeId: nodeA.nodeId, ref: 'inq-1', purpose: 'inheritance', found: 2, deceased: true }),
        },
        {
          actor_type: 'peer',
          institution_id: null,
          subject_id: null,
          resource_id: peerA.id,
          details: expect.objectContaining({ peerNodeId: nodeA.nodeId, ref: 'inq-2', found: 0 }),
        },
      ]);
      const subject = await b.db.pool.query(`SELECT id FROM subjects WHERE institution_id = $1`, [bankB.id]);
      expect(rows[0].subject_id).toBe(subject.rows[0].id);
    });

    it('answers a hand-made query with an envelope sealed to A, signed by B, in reply to its jti', async () => {
      const claims = queryClaims();
      const res = await post(await sealEnvelope(claims, identityA, keysOfB)).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/jose/);
      const opened = await openEnvelope(res.text, identityA, async (kid) => (kid === nodeB.nodeId ? keysOfB : undefined));
      expect(opened.claims).toMatchObject({
        typ: 'location-answer',
        iss: nodeB.nodeId,
        aud: nodeA.nodeId,
        inReplyTo: claims.jti,
        answers: [{ ref: 'q-1', institutions: [{ code: '0009', accounts: expect.any(Array) }] }],
      });
      expect(opened.claims.jti).not.toBe(claims.jti);
      expect((opened.claims.exp as number) - (opened.claims.iat as number)).toBe(b.config.PEER_MESSAGE_TTL_SECONDS);
    });

    it('keeps the jti until the message expires, and purges it after', async () => {
      const claims = queryClaims();
      await post(await sealEnvelope(claims, identityA, keysOfB)).expect(200);
      const { rows } = await b.db.pool.query(`SELECT expires_at FROM peer_message_ids WHERE issuer = $1 AND jti = $2`, [nodeA.nodeId, claims.jti]);
      expect(rows[0].expires_at.getTime()).toBeGreaterThanOrEqual(claims.exp * 1000);

      await b.db.pool.query(`INSERT INTO peer_message_ids (issuer, jti, expires_at) VALUES ('old-node', 'old-jti', now() - interval '1 minute')`);
      expect(await b.app.get(PeerMessageIdsRepository).purgeExpiredMessageIds()).toBeGreaterThanOrEqual(1);
      const left = await b.db.pool.query(`SELECT issuer FROM peer_message_ids WHERE issuer IN ('old-node', $1)`, [nodeA.nodeId]);
      expect(left.rows.map((r) => r.issuer)).not.toContain('old-node');
      expect(left.rows.map((r) => r.issuer)).toContain(nodeA.nodeId);
    });
  });

  describe('a number alone reveals nothing (protocol version 2)', () => {
    /** B's answer to one hand-made query from A, opened. */
    const answerOf = async (query: Record<string, unknown>, purpose = 'inheritance') => {
      const res = await post(await sealEnvelope(queryClaims({ purpose, queries: [query] }), identityA, keysOfB)).expect(200);
      return (await openEnvelope(res.text, identityA, async () => keysOfB)).claims as any;
    };
    /** A depositor of B's 0009 that no query has reported deceased yet. */
    const fresh = validMyNumber(11_223_344);
    beforeAll(async () => {
      const accounts = [{ branchCode: '103', accountType: 'ordinary', accountNumber: '5550001' }];
      await b.http.post('/v1/linkages').set(bankB.auth).send(linkageBody(fresh, { accounts })).expect(201);
    });
    const freshMarked = async () =>
      (await b.db.pool.query(`SELECT holder_reported_deceased_at IS NOT NULL AS marked FROM linkages WHERE account_number = '5550001'`)).rows[0]
        .marked as boolean;

    it.each([
      ['a wrong name', { nameKey: 'ｽｽﾞｷﾊﾅｺ' }],
      ['a wrong birth date', { birthDate: '1980-04-02' }],
    ])('%s: not-found, and nothing marked deceased', async (_label, wrong) => {
      const answer = await answerOf({ ref: 'w-1', myNumber: fresh, ...LINKAGE_SUBJECT, ...wrong, deceased: DEATH_CLAIM });
      expect(answer.answers).toEqual([{ ref: 'w-1', institutions: [] }]);
      expect(await freshMarked()).toBe(false);
    });

    it('the name key compares as linkages do: the same name in another spelling matches', async () => {
      // ﾔﾏﾀﾞﾀﾛｳ is what nameKey() gives for ヤマダ　タロウ, ﾔﾏﾀﾞ ﾀﾛｳ and ﾔﾏﾀﾞﾀﾛｳ alike.
      const answer = await answerOf({ ref: 'n-1', myNumber: deceased, nameKey: 'ﾔﾏﾀﾞﾀﾛｳ', birthDate: '1980-04-01' }, 'disaster');
      expect(answer.answers[0].institutions.map((i: { code: string }) => i.code)).toEqual(['0009']);
    });

    it('records the death as reported by A, with its date and evidence, and GET /v1/linkages/{id} shows it', async () => {
      const { rows } = await b.db.pool.query(
        `SELECT id FROM linkages WHERE deceased_reported_by_node = $1 ORDER BY account_number LIMIT 1`,
        [nodeA.nodeId],
      );
      expect(rows).toHaveLength(1);
      const view = (await b.http.get(`/v1/linkages/${rows[0].id}`).set(bankB.auth).expect(200)).body;
      expect(view.holderDeceased).toEqual({
        reportedAt: expect.any(String),
        dateOfDeath: DEATH_CLAIM.dateOfDeath,
        inquiryId: null,
        reportedByNode: nodeA.nodeId,
        evidence: DEATH_CLAIM.evidence,
      });
    });

    const expectDeceasedRefused = (res: { status: number; body: any }) => {
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('PEER_DECEASED_CLAIM_REFUSED');
    };

    it.each([
      ['in a disaster query', 'disaster', DEATH_CLAIM],
      ['as a bare true (version 1)', 'inheritance', true],
      ['without a date of death', 'inheritance', { evidence: DEATH_CLAIM.evidence }],
      ['without evidence', 'inheritance', { dateOfDeath: DEATH_CLAIM.dateOfDeath, evidence: [] }],
      ['with evidence that is not of a death', 'inheritance', { ...DEATH_CLAIM, evidence: [{ type: 'my-number-card', reference: 'x' }] }],
      ['with a death before the birth', 'inheritance', { ...DEATH_CLAIM, dateOfDeath: '1970-01-01' }],
    ])('a claim of death %s is refused whole (422 PEER_DECEASED_CLAIM_REFUSED), nothing answered or marked', async (_label, purpose, claim) => {
      const queries = [{ ref: 'd-1', myNumber: fresh, ...LINKAGE_SUBJECT, deceased: claim }];
      const res = await post(await sealEnvelope(queryClaims({ purpose, queries }), identityA, keysOfB));
      expectDeceasedRefused(res);
      expect(await freshMarked()).toBe(false);
    });

    it('a disaster query that finds the subject marks nothing; the matching inheritance query does', async () => {
      const answer = await answerOf({ ref: 'x-1', myNumber: fresh, ...LINKAGE_SUBJECT }, 'disaster');
      expect(answer.answers[0].institutions).toHaveLength(1);
      expect(await freshMarked()).toBe(false);
      await answerOf({ ref: 'x-2', myNumber: fresh, ...LINKAGE_SUBJECT, deceased: DEATH_CLAIM });
      expect(await freshMarked()).toBe(true);
    });

    it.each([
      ['no v (a version 1 node)', { v: undefined }],
      ['v: 1', { v: 1 }],
      ['v: 3', { v: 3 }],
    ])('a message with %s is refused clearly: 400 PEER_PROTOCOL_VERSION_UNSUPPORTED, supportedVersions [2]', async (_label, changes) => {
      const claims: Record<string, unknown> = queryClaims(changes);
      if (claims.v === undefined) delete claims.v;
      // A version 1 query: a bare number, no subject.
      claims.queries = [{ ref: 'q-1', myNumber: deceased }];
      const res = await post(await sealEnvelope(claims, identityA, keysOfB));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('PEER_PROTOCOL_VERSION_UNSUPPORTED');
      expect(res.body.supportedVersions).toEqual([2]);
    });

    it('the version refusal still needs an authenticated sender: unsigned by a registered peer, it is 401', async () => {
      const unknown = (await generateNodeIdentity('unregistered-v1')).identity;
      const claims: Record<string, unknown> = queryClaims({ iss: 'unregistered-v1' });
      delete claims.v;
      expectRefused(await post(await sealEnvelope(claims, unknown, keysOfB)));
    });
  });

  describe('refusals by B: 401 PEER_MESSAGE_REFUSED and no answer', () => {
    it('the same message twice (a replay)', async () => {
      const sealed = await sealEnvelope(queryClaims(), identityA, keysOfB);
      await post(sealed).expect(200);
      expectRefused(await post(sealed));
    });

    it.each([
      ['a wrong aud', { aud: 'some-other-node' }],
      ['an exp in the past', { iat: epochSeconds() - 300, exp: epochSeconds() - 120 }],
      ['another typ', { typ: 'location-answer' }],
      ['an iss that is not the signer', { iss: 'some-other-node' }],
      ['an invalid My Number', { queries: [{ ref: 'q', myNumber: '123456789019', ...LINKAGE_SUBJECT }] }],
      ['a name that is not a name key', { queries: [{ ref: 'q', myNumber: '123456789018', nameKey: 'ヤマダ タロウ', birthDate: '1980-04-01' }] }],
      ['no birth date', { queries: [{ ref: 'q', myNumber: '123456789018', nameKey: 'ﾔﾏﾀﾞﾀﾛｳ' }] }],
      ['an unknown member', { balance: true }],
    ])('a message with %s', async (_label, changes) => {
      expectRefused(await post(await sealEnvelope(queryClaims(changes), identityA, keysOfB)));
    });

    it('a tampered ciphertext', async () => {
      const sealed = await sealEnvelope(queryClaims(), identityA, keysOfB);
      expectRefused(await post(flipBit(sealed, 3)));
    });

    it('a message encrypted to another key than B’s', async () => {
      const other = (await generateNodeIdentity(nodeB.nodeId)).identity;
      const toOther = await importPeerKeys(nodeB.nodeId, other.signingJwk, other.encryptionJwk);
      expectRefused(await post(await sealEnvelope(queryClaims(), identityA, toOther)));
    });

    it('a message signed by a node B does not know', async () => {
      const unknown = (await generateNodeIdentity('unregistered-node')).identity;
      expectRefused(await post(await sealEnvelope(queryClaims({ iss: 'unregistered-node' }), unknown, keysOfB)));
    });

    it("a message claiming to be from A but signed with another key than A's registered one", async () => {
      const impostor = (await generateNodeIdentity(nodeA.nodeId)).identity;
      expectRefused(await post(await sealEnvelope(queryClaims(), impostor, keysOfB)));
    });

    it('a message from a disabled peer; registering it again enables it', async () => {
      const c = (await generateNodeIdentity('node-c')).identity;
      await b.http.post('/v1/peers').set(b.admin).send(registration(nodeBodyOf(c), 'http://127.0.0.1:9', [{ code: '0300', name: 'C' }])).expect(201);
      const fromC = () => sealEnvelope(queryClaims({ iss: 'node-c' }), c, keysOfB);
      await post(await fromC()).expect(200);

      const disabled = await b.http.delete('/v1/peers/node-c').set(b.admin).expect(200);
      expect(disabled.body.disabledAt).not.toBeNull();
      expectRefused(await post(await fromC()));
      // Still there: disabled, never deleted.
      expect((await b.http.get('/v1/peers/node-c').set(b.admin).expect(200)).body.disabledAt).not.toBeNull();

      await b.http.post('/v1/peers').set(b.admin).send(registration(nodeBodyOf(c), 'http://127.0.0.1:9', [{ code: '0300', name: 'C' }])).expect(200);
      await post(await fromC()).expect(200);
    });

    it('a plain JSON body, text, or no body at all', async () => {
      expectRefused(await post(queryClaims(), 'application/json'));
      expectRefused(await post('hello', 'text/plain'));
      expectRefused(await b.http.post(QUERIES_PATH));
      expectRefused(await post('not.a.jwe'));
    });

    it('a body larger than PEER_BODY_LIMIT_BYTES answers 413', async () => {
      const res = await post('a'.repeat(b.config.PEER_BODY_LIMIT_BYTES + 1));
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('logs each refusal with its reason, and never a number', () => {
      const refusals = logLines().filter((l) => l.msg === 'peer message refused' && l.context === 'PeerInboundService').map((l) => l.reason);
      expect(refusals).toEqual(
        expect.arrayContaining(['replayed', 'wrong-audience', 'expired', 'undecryptable', 'unknown-sender', 'bad-signature', 'not-jose', 'malformed']),
      );
    });
  });

  describe('answers A does not believe', () => {
    let forger: NodeIdentity;
    let server: Server;
    let peer: PeerNode;
    /** How the fake peer answers a query it has opened. */
    let respond: (query: Record<string, unknown>, raw: string) => Promise<{ status: number; type?: string; body: string; delayMs?: number }>;

    beforeAll(async () => {
      forger = (await generateNodeIdentity('node-f')).identity;
      const keysOfA = await importPeerKeys(nodeA.nodeId, nodeA.signingKey, nodeA.encryptionKey);
      server = createServer((req, res) => {
        let raw = '';
        req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
        req.on('end', async () => {
          const { claims } = await openEnvelope(raw, forger, async () => keysOfA);
          const answer = await respond(claims, raw);
          if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
          res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/jose' }).end(answer.body);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      await a.http.post('/v1/peers').set(a.admin).send(registration(nodeBodyOf(forger), url, [{ code: '0400', name: 'F' }])).expect(201);
      peer = (await a.app.get(PeersRepository).listActive()).find((p) => p.nodeId === 'node-f')!;
    });
    afterAll(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });

    /** An answer from F to A in reply to `query`, with `changes` applied. */
    const answerTo = (query: Record<string, unknown>, changes: Record<string, unknown> = {}) => {
      const iat = epochSeconds();
      return {
        v: PROTOCOL_VERSION,
        typ: 'location-answer',
        iss: 'node-f',
        aud: nodeA.nodeId,
        jti: newMessageId(),
        iat,
        exp: iat + 60,
        inReplyTo: query.jti,
        answers: [{ ref: 'f-1', institutions: [{ code: '0400', accounts: [{ branchCode: '001', accountType: 'current', accountNumber: '0000001' }] }] }],
        ...changes,
      };
    };
    const locate = (timeoutMs?: number) =>
      a.app.get(PeerClient).locate(peer, 'disaster', [{ ref: 'f-1', myNumber: stranger, ...LINKAGE_SUBJECT }], timeoutMs ? { timeoutMs } : {});
    const reasonOf = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        expect(error).toBeInstanceOf(PeerUnreachableError);
        return (error as PeerUnreachableError).reason;
      }
      throw new Error('expected PeerUnreachableError');
    };
    const sealedBy = (signer: NodeIdentity, claims: Record<string, unknown>) =>
      importPeerKeys(nodeA.nodeId, nodeA.signingKey, nodeA.encryptionKey).then((toA) => sealEnvelope(claims, signer, toA));

    it('believes a genuine answer (the fake peer works)', async () => {
      respond = async (query) => ({ status: 200, body: await sealedBy(forger, answerTo(query)) });
      expect((await locate()).get('f-1')).toEqual([{ code: '0400', accounts: [{ branchCode: '001', accountType: 'current', accountNumber: '0000001' }] }]);
    });

    type Forge = (query: Record<string, unknown>, raw: string) => Promise<string>;
    it.each<[string, Forge]>([
      ['signed by another key than the one registered', async (q: Record<string, unknown>) => sealedBy((await generateNodeIdentity('node-f')).identity, answerTo(q))],
      ['in reply to another message', async (q: Record<string, unknown>) => sealedBy(forger, answerTo(q, { inReplyTo: newMessageId() }))],
      ['addressed to another node', async (q: Record<string, unknown>) => sealedBy(forger, answerTo(q, { aud: 'node-z' }))],
      ['issued in the name of another node', async (q: Record<string, unknown>) => sealedBy(forger, answerTo(q, { iss: 'node-z' }))],
      ['expired', async (q: Record<string, unknown>) => sealedBy(forger, answerTo(q, { iat: epochSeconds() - 300, exp: epochSeconds() - 200 }))],
      ['the query sent back', async (_q: Record<string, unknown>, raw: string) => raw],
    ])('an answer %s → forged, logged', async (_label, forge) => {
      respond = async (query, raw) => ({ status: 200, body: await forge(query, raw) });
      const forgedLogged = () =>
        logLines().filter((l) => l.msg === 'answer of a peer node not believed' && l.peerNodeId === 'node-f' && l.reason === 'forged').length;
      const before = forgedLogged();
      expect(await reasonOf(locate())).toBe('forged');
      expect(forgedLogged()).toBe(before + 1);
    });

    it('drops (and logs) institutions that are not registered behind the peer', async () => {
      respond = async (query) => {
        const claims = answerTo(query);
        claims.answers[0].institutions.push({ code: '0009', accounts: [{ branchCode: '001', accountType: 'current', accountNumber: '0000002' }] });
        return { status: 200, body: await sealedBy(forger, claims) };
      };
      expect((await locate()).get('f-1')!.map((i) => i.code)).toEqual(['0400']);
      expect(logLines()).toContainEqual(expect.objectContaining({ peerNodeId: 'node-f', droppedInstitutionCodes: ['0009'] }));
    });

    it.each<[string, string, typeof respond]>([
      ['a signed answer of the wrong shape', 'malformed', async (q) => ({ status: 200, body: await sealedBy(forger, answerTo(q, { answers: 'none' })) })],
      ['a body that is not an envelope', 'malformed', async () => ({ status: 200, body: 'hello' })],
      ['another media type', 'malformed', async () => ({ status: 200, type: 'application/json', body: '{}' })],
      ['401', 'refused', async () => ({ status: 401, type: 'application/problem+json', body: '{}' })],
      ['500', 'http-status', async () => ({ status: 500, body: '' })],
      ['no answer in time', 'timeout', async () => ({ status: 200, body: '', delayMs: 1500 })],
    ])('%s → %s', async (_label, reason, answer) => {
      respond = answer;
      expect(await reasonOf(locate(500))).toBe(reason);
    });

    it('a node that cannot be reached → network', async () => {
      const closed = { ...peer, endpointUrl: 'http://127.0.0.1:9' };
      expect(await reasonOf(a.app.get(PeerClient).locate(closed, 'disaster', [{ ref: 'x', myNumber: stranger, ...LINKAGE_SUBJECT }]))).toBe('network');
    });
  });

  describe('peer registration', () => {
    let r: NodeIdentity;
    beforeAll(async () => {
      r = (await generateNodeIdentity('node-r')).identity;
    });
    const valid = () => registration(nodeBodyOf(r), 'https://peer.example', [{ code: '0500', name: 'P' }]);
    const register = (body: Record<string, unknown>) => b.http.post('/v1/peers').set(b.admin).send(body);

    it.each<[string, () => Record<string, unknown>, string]>([
      ['an EC signing key', () => ({ signingKey: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' } }), 'signingKey'],
      ['a private signing key', () => ({ signingKey: JSON.parse(a.env.NODE_SIGNING_KEY) }), 'signingKey'],
      ['the keys swapped', () => ({ signingKey: r.encryptionJwk, encryptionKey: r.signingJwk }), 'signingKey'],
      ['a short encryption key', () => ({ encryptionKey: { kty: 'OKP', crv: 'X25519', x: 'AAAA' } }), 'encryptionKey'],
      ['no encryption key', () => ({ encryptionKey: undefined }), 'encryptionKey'],
      ['a bad node id', () => ({ nodeId: 'node one' }), 'nodeId'],
      ['an endpoint that is not a URL', () => ({ endpointUrl: 'peer.example' }), 'endpointUrl'],
      ['an endpoint with a query', () => ({ endpointUrl: 'https://peer.example/?x=1' }), 'endpointUrl'],
      ['a 3-digit institution code', () => ({ institutions: [{ code: '005', name: 'X' }] }), 'institutions[0].code'],
      ['a code listed twice', () => ({ institutions: [{ code: '0501', name: 'X' }, { code: '0501', name: 'Y' }] }), 'institutions'],
      ["this node's own id", () => ({ nodeId: nodeB.nodeId }), 'nodeId'],
    ])('refuses %s with 422', async (_label, changes, path) => {
      const res = await register({ ...valid(), ...changes() });
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    });

    it('accepts the body those refusals start from', async () => {
      await register(valid()).expect(201);
    });

    it('refuses (409) an institution code hosted here, and a hosted institution whose code is behind a peer', async () => {
      const taken = await register({ ...valid(), nodeId: 'node-g', institutions: [{ code: '0009', name: 'Not B' }] });
      expect(taken.status).toBe(409);
      expect(taken.body.code).toBe('INSTITUTION_EXISTS');
      expect((await b.http.get('/v1/peers/node-g').set(b.admin)).status).toBe(404);

      const hosted = await a.http.post('/v1/institutions').set(a.admin).send({ code: '0009', name: 'Also 0009' });
      expect(hosted.status).toBe(409);
      expect(hosted.body.code).toBe('INSTITUTION_EXISTS');
    });

    it('refuses (409) a code behind another peer', async () => {
      const res = await register({ ...valid(), nodeId: 'node-h', institutions: [{ code: '0005', name: 'A again' }] });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('INSTITUTION_EXISTS');
    });

    it('updates a registration sent again, and lists peers', async () => {
      const c = (await generateNodeIdentity('node-i')).identity;
      await register(registration(nodeBodyOf(c), 'https://i.example/', [{ code: '0600', name: 'I' }, { code: '0601', name: 'I1' }])).expect(201);
      const updated = await register(registration(nodeBodyOf(c), 'https://i2.example', [{ code: '0601', name: 'I1 renamed' }])).expect(200);
      expect(updated.body).toMatchObject({
        nodeId: 'node-i',
        endpointUrl: 'https://i2.example',
        institutions: [{ code: '0601', name: 'I1 renamed' }],
        disabledAt: null,
      });
      const list = await b.http.get('/v1/peers').set(b.admin).expect(200);
      expect(list.body.items.map((p: { nodeId: string }) => p.nodeId)).toEqual(expect.arrayContaining([nodeA.nodeId, 'node-i']));
      const audit = await b.db.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'peer.register' AND details ->> 'nodeId' = 'node-i'`);
      expect(audit.rows[0].n).toBe(2);
    });

    it('answers 404 for an unknown peer', async () => {
      expect((await b.http.get('/v1/peers/nobody').set(b.admin)).status).toBe(404);
      expect((await b.http.delete('/v1/peers/nobody').set(b.admin)).status).toBe(404);
    });
  });

  describe('the hosted look-up', () => {
    it('can probe subjects_blind_index for every query (EXPLAIN)', async () => {
      const client = await b.db.pool.connect();
      try {
        await client.query('BEGIN');
        // The tables are tiny here: forbid the sequential scan to see whether the index serves the query.
        await client.query('SET LOCAL enable_seqscan = off');
        const { rows } = await client.query(`EXPLAIN ${HOSTED_LOCATE_SQL}`, [['r'], [1], [Buffer.alloc(32)], null, ['ﾔﾏﾀﾞﾀﾛｳ'], ['1980-04-01']]);
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toMatch(/subjects_blind_index/);
        expect(plan).toMatch(/linkages_subject/);
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    });
  });

  describe('afterwards', () => {
    it('no number sent through the protocol is in clear in either database or log', async () => {
      for (const node of [a, b]) {
        const { tables, lines } = await databaseText(node.db.pool);
        expect(tables).toContain('peer_message_ids');
        for (const line of lines) for (const n of sentNumbers) expect(line).not.toContain(n);
      }
      const logs = a.logs.text + b.logs.text;
      expect(logs).toContain('peer message refused');
      for (const n of sentNumbers) expect(logs).not.toContain(n);
    });
  });
});
