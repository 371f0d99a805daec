import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { CompactEncrypt, CompactSign } from 'jose';
import {
  createNodeIdentity,
  epochSeconds,
  generateNodeIdentity,
  importPeerKeys,
  sealEnvelope,
  type NodeIdentity,
  type PeerKeys,
} from '../../src/peers/envelope.js';
import { publishedNode, signKeyStatement, type KeyStatement } from '../../src/peers/key-statement.js';
import { PeerClient, type PeerNode } from '../../src/peers/peer-client.js';
import { newMessageId } from '../../src/peers/peer-messages.js';
import { PeersRepository } from '../../src/peers/peers.repository.js';
import { validMyNumber } from './support/my-numbers.js';
import { startTestApp, testKeysEnv, type TestApp } from './support/test-app.js';

const QUERIES_PATH = '/v1/peer/location-queries';
const BODY_LIMIT = 64 * 1024;

/**
 * What a registered peer is trusted for, and no more, against one real node A:
 * - its keys change only on its own signed say-so (key statements at GET /v1/node);
 * - its endpoint is https in production;
 * - its queries per minute are bounded by its quota (429 PEER_QUOTA_EXCEEDED);
 * - a message names its sender in the JWE header, looked up before decryption, and
 *   must be signed by that sender;
 * - its answers are cut off at PEER_BODY_LIMIT_BYTES as they stream.
 * The peers are this test's own identities behind a fake HTTP server it controls.
 */
describe('peer trust', () => {
  let a: TestApp;
  let nodeA: { nodeId: string; signingKey: Record<string, string>; encryptionKey: Record<string, string> };
  let keysOfA: PeerKeys;
  let fake: Server;
  let fakeUrl: string;
  /** What the fake server answers, by "METHOD path". */
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const now = epochSeconds();

  const register = (identity: NodeIdentity, code: string, extra: Record<string, unknown> = {}) =>
    a.http
      .post('/v1/peers')
      .set(a.admin)
      .send({
        nodeId: identity.nodeId,
        endpointUrl: fakeUrl,
        signingKey: identity.signingJwk,
        encryptionKey: identity.encryptionJwk,
        institutions: [{ code, name: `Bank ${code}` }],
        ...extra,
      });
  const serveNode = (body: unknown) =>
    routes.set('GET /v1/node', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  const published = async (identity: NodeIdentity, iat: number, signer: NodeIdentity = identity, node = publishedNode(identity, iat)) => ({
    ...node,
    keyStatement: await signKeyStatement(signer, node, iat),
  });
  const refresh = (nodeId: string) => a.http.post(`/v1/peers/${nodeId}/refresh`).set(a.admin);
  const storedSigningKey = async (nodeId: string) => (await a.http.get(`/v1/peers/${nodeId}`).set(a.admin).expect(200)).body.signingKey.x;
  const queryClaims = (from: NodeIdentity, queries = 1) => ({
    typ: 'location-query',
    iss: from.nodeId,
    aud: nodeA.nodeId,
    jti: newMessageId(),
    iat: epochSeconds(),
    exp: epochSeconds() + 60,
    purpose: 'inheritance',
    queries: Array.from({ length: queries }, (_, i) => ({ ref: `q-${i}`, myNumber: validMyNumber(70_000 + i) })),
  });
  const post = (envelope: string) => a.http.post(QUERIES_PATH).set('content-type', 'application/jose').send(envelope);
  const refusals = () => a.logs.lines.filter((l) => l.includes('peer message refused')).map((l) => JSON.parse(l));

  beforeAll(async () => {
    fake = createServer((req, res) => {
      const route = routes.get(`${req.method} ${req.url}`);
      if (route) return route(req, res);
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    a = await startTestApp({ env: { PEER_BODY_LIMIT_BYTES: String(BODY_LIMIT), PEER_REQUEST_TIMEOUT_MS: '20000', PEER_QUERIES_PER_MINUTE: '1000' } });
    nodeA = (await a.http.get('/v1/node').expect(200)).body;
    keysOfA = await importPeerKeys(nodeA.nodeId, nodeA.signingKey, nodeA.encryptionKey);
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    fake?.closeAllConnections();
    await new Promise((resolve) => fake?.close(resolve));
  });

  describe("a peer's keys change only with the peer's own say-so", () => {
    let b0: { identity: NodeIdentity; signingPrivateJwk: Record<string, unknown> };
    let b1: NodeIdentity;
    let impostor: NodeIdentity;
    let oldStatement: { keyStatement: KeyStatement };

    beforeAll(async () => {
      b0 = (await generateNodeIdentity('peer-b')) as never;
      impostor = (await generateNodeIdentity('peer-b')).identity;
      const fresh = await generateNodeIdentity('peer-b');
      b1 = await createNodeIdentity('peer-b', fresh.signingPrivateJwk, fresh.encryptionPrivateJwk, [
        { signingJwk: b0.signingPrivateJwk, notAfter: now + 3600 },
      ]);
      await register(b0.identity, '0101').expect(201);
    });

    it('GET /v1/node publishes a key statement signed by the node, next to the fields older readers use', async () => {
      const node = (await a.http.get('/v1/node').expect(200)).body;
      expect(Object.keys(node)).toEqual(['nodeId', 'signingKey', 'encryptionKey', 'keys', 'keyStatement']);
      expect(node.keyStatement.signatures).toHaveLength(1);
      const header = JSON.parse(Buffer.from(node.keyStatement.signatures[0].protected, 'base64url').toString('utf8'));
      expect(header).toEqual({ alg: 'EdDSA', typ: 'kouza-key-statement+jws', kid: node.keys[0].kid });
      const payload = JSON.parse(Buffer.from(node.keyStatement.payload, 'base64url').toString('utf8'));
      expect(payload).toEqual({ nodeId: node.nodeId, signingKey: node.signingKey, encryptionKey: node.encryptionKey, keys: node.keys, iat: expect.any(Number) });
      // The whole answer registers a node as it is.
      await a.http
        .post('/v1/peers')
        .set(a.admin)
        .send({ ...node, nodeId: 'whole-answer', endpointUrl: fakeUrl, institutions: [{ code: '0199', name: 'X' }] })
        .expect(201);
    });

    it('an unchanged key set refreshes without any statement', async () => {
      serveNode({ nodeId: 'peer-b', signingKey: b0.identity.signingJwk, encryptionKey: b0.identity.encryptionJwk });
      await refresh('peer-b').expect(200);
    });

    it('refuses new keys that whoever answers at the URL publishes: unsigned, or signed by themselves', async () => {
      const before = await storedSigningKey('peer-b');
      serveNode({ nodeId: 'peer-b', signingKey: impostor.signingJwk, encryptionKey: impostor.encryptionJwk });
      const unsigned = await refresh('peer-b').expect(409);
      expect(unsigned.body).toMatchObject({ code: 'PEER_KEY_CHANGE_UNENDORSED', reason: 'absent' });
      serveNode(await published(impostor, now));
      const selfSigned = await refresh('peer-b').expect(409);
      expect(selfSigned.body).toMatchObject({ code: 'PEER_KEY_CHANGE_UNENDORSED', reason: 'untrusted-signature' });
      // A new "previous" key, unsigned, is a change too (it would be believed for signatures).
      serveNode({ ...publishedNode(b0.identity, now), keys: [...publishedNode(b0.identity).keys, { ...impostor.signingJwk, kid: impostor.signingKid, use: 'sig', status: 'previous', notAfter: new Date((now + 9e6) * 1000).toISOString() }] });
      expect((await refresh('peer-b').expect(409)).body.reason).toBe('absent');
      expect(await storedSigningKey('peer-b')).toBe(before);

      const metrics = await a.http.get('/metrics').expect(200);
      expect(metrics.text).toMatch(/kouza_peer_key_changes_refused_total\{node="peer-b",reason="untrusted-signature"\} 1/);
      expect(metrics.text).toMatch(/kouza_peer_key_changes_refused_total\{node="peer-b",reason="absent"\} 2/);
      const { rows } = await a.db.pool.query(`SELECT actor_type, details FROM audit_events WHERE action = 'peer.refresh-keys.refused' ORDER BY id`);
      expect(rows).toHaveLength(3);
      expect(rows[1]).toEqual({
        actor_type: 'operator',
        details: { nodeId: 'peer-b', reason: 'untrusted-signature', offered: { signingKid: impostor.signingKid, encryptionKid: impostor.encryptionKid, previousSigningKeys: 0 } },
      });
    });

    it('believes a rotation the old key signs for, and not an older statement shown after it', async () => {
      oldStatement = await published(b0.identity, now - 100);
      serveNode(await published(b1, now - 50));
      const rotated = await refresh('peer-b').expect(200);
      expect(rotated.body).toMatchObject({ signingKey: b1.signingJwk, encryptionKey: b1.encryptionJwk, previousSigningKeys: [{ x: b0.identity.signingJwk.x }] });
      // B0's statement is genuine, and B0's key is still trusted (as previous): but it is
      // older than B1's, so it changes nothing (B's processes not yet restarted, or a replay).
      serveNode(oldStatement);
      expect((await refresh('peer-b').expect(200)).body).toMatchObject({ signingKey: b1.signingJwk, encryptionKey: b1.encryptionJwk });
      const { rows } = await a.db.pool.query(`SELECT details FROM audit_events WHERE action = 'peer.refresh-keys' ORDER BY id DESC LIMIT 1`);
      expect(rows[0].details).toMatchObject({ changed: false, staleStatement: true });
      // A statement that says other keys than the plain fields: refused too.
      serveNode({ ...(await published(b1, now - 40)), signingKey: impostor.signingJwk });
      expect((await refresh('peer-b').expect(409)).body.reason).toBe('inconsistent');
      expect(await storedSigningKey('peer-b')).toBe(b1.signingJwk.x);
    });

    it('registering the peer again is the operator’s way to accept keys the peer did not sign for', async () => {
      await register(impostor, '0101').expect(200);
      expect(await storedSigningKey('peer-b')).toBe(impostor.signingJwk.x);
      serveNode(await published(impostor, now - 200));
      await refresh('peer-b').expect(200);
    });
  });

  describe('endpointUrl', () => {
    let production: TestApp;
    beforeAll(async () => {
      production = await startTestApp({ env: { ...testKeysEnv(), NODE_ENV: 'production' } });
    }, 60_000);
    afterAll(async () => {
      await production?.close();
    });

    it('must be https in production (422), and may be http outside it', async () => {
      const peer = (await generateNodeIdentity('peer-tls')).identity;
      const body = (endpointUrl: string) => ({
        nodeId: peer.nodeId,
        endpointUrl,
        signingKey: peer.signingJwk,
        encryptionKey: peer.encryptionJwk,
        institutions: [{ code: '0301', name: 'TLS bank' }],
      });
      const refused = await production.http.post('/v1/peers').set(production.admin).send(body('http://peer.example')).expect(422);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: 'endpointUrl', code: 'INVALID_VALUE' }] });
      expect((await production.http.get('/v1/peers').set(production.admin).expect(200)).body.items).toEqual([]);
      await production.http.post('/v1/peers').set(production.admin).send(body('https://peer.example')).expect(201);
      await a.http.post('/v1/peers').set(a.admin).send(body('http://127.0.0.1:9')).expect(201);
    });

    it('is not used in production unless https, whatever was stored', async () => {
      // A row of before the rule (written by hand here), pointing at a node that answers.
      const old = (await generateNodeIdentity('peer-plain')).identity;
      await production.db.pool.query(
        `INSERT INTO peers (id, node_id, endpoint_url, signing_key, encryption_key) VALUES (gen_random_uuid(), $1, $2, $3, $4)`,
        [old.nodeId, fakeUrl, JSON.stringify(old.signingJwk), JSON.stringify(old.encryptionJwk)],
      );
      serveNode(await published(old, now));
      const refused = await production.http.post('/v1/peers/peer-plain/refresh').set(production.admin).expect(502);
      expect(refused.body).toMatchObject({ code: 'PEER_KEYS_UNAVAILABLE', reason: 'network' });
      const peer = (await production.app.get(PeersRepository).listActive()).find((p) => p.nodeId === 'peer-plain')!;
      await expect(production.app.get(PeerClient).locate(peer, 'inheritance', [{ ref: 'r', myNumber: validMyNumber(72_000) }])).rejects.toMatchObject({
        reason: 'network',
        message: expect.stringContaining('not https'),
      });
    });
  });

  describe('quotas on inbound queries', () => {
    let limited: NodeIdentity;
    let other: NodeIdentity;

    beforeAll(async () => {
      limited = (await generateNodeIdentity('peer-quota')).identity;
      other = (await generateNodeIdentity('peer-default')).identity;
      await register(limited, '0401', { queriesPerMinute: 3 }).expect(201);
      await register(other, '0402').expect(201);
    });

    it('counts queries per peer and answers 429 PEER_QUOTA_EXCEEDED, with Retry-After, past the quota', async () => {
      expect((await a.http.get('/v1/peers/peer-quota').set(a.admin).expect(200)).body.queriesPerMinute).toBe(3);
      await post(await sealEnvelope(queryClaims(limited, 2), limited, keysOfA)).expect(200);
      await post(await sealEnvelope(queryClaims(limited, 1), limited, keysOfA)).expect(200);
      const refused = await post(await sealEnvelope(queryClaims(limited, 1), limited, keysOfA)).expect(429);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ code: 'PEER_QUOTA_EXCEEDED', status: 429 });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Another peer has its own bucket (the default quota).
      await post(await sealEnvelope(queryClaims(other, 5), other, keysOfA)).expect(200);
      const metrics = await a.http.get('/metrics').expect(200);
      expect(metrics.text).toMatch(/kouza_peer_quota_refused_total\{node="peer-quota"\} 1/);
      expect(metrics.text).not.toMatch(/kouza_peer_quota_refused_total\{node="peer-default"\}/);
    });

    it('is set again by the operator (null: the default), and a message forged in a peer’s name spends none of it', async () => {
      await register(limited, '0401', { queriesPerMinute: null }).expect(200);
      expect((await a.http.get('/v1/peers/peer-quota').set(a.admin).expect(200)).body.queriesPerMinute).toBeNull();
      // The default (1000 a minute) refills the spent bucket: a token within 60 ms.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await post(await sealEnvelope(queryClaims(limited, 1), limited, keysOfA)).expect(200);
      // Mallory says she is peer-default, with keys of her own.
      const mallory = (await generateNodeIdentity('peer-default')).identity;
      await register(other, '0402', { queriesPerMinute: 2 }).expect(200);
      for (let i = 0; i < 5; i++) await post(await sealEnvelope(queryClaims(mallory, 1), mallory, keysOfA)).expect(401);
      await post(await sealEnvelope(queryClaims(other, 2), other, keysOfA)).expect(200);
      await register(limited, '0401', { queriesPerMinute: -1 }).expect(422);
    });
  });

  describe('per-address limit of the peer routes', () => {
    let limitedApp: TestApp;
    beforeAll(async () => {
      limitedApp = await startTestApp({ env: { PEER_IP_RATE_LIMIT_PER_MINUTE: '60', PEER_IP_RATE_LIMIT_BURST: '3' } });
    }, 60_000);
    afterAll(async () => {
      await limitedApp?.close();
    });

    it('refuses messages past the limit with 429 PEER_RATE_LIMITED, whoever they say they are from', async () => {
      const stranger = (await generateNodeIdentity('peer-flood')).identity;
      const target = await importPeerKeys(...((b) => [b.nodeId, b.signingKey, b.encryptionKey] as const)((await limitedApp.http.get('/v1/node').expect(200)).body));
      const send = async () =>
        limitedApp.http.post(QUERIES_PATH).set('content-type', 'application/jose').send(await sealEnvelope(queryClaims(stranger), stranger, target));
      for (let i = 0; i < 3; i++) expect((await send()).status).toBe(401);
      const refused = await send();
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ code: 'PEER_RATE_LIMITED' });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await limitedApp.http.post('/v1/peer/numbering-notices').set('content-type', 'application/jose').send('x.y.z.w.v')).status).toBe(429);
      // Counted as refused by address (not as messages refused after a look-up), and GET /v1/node is not limited.
      await limitedApp.http.get('/v1/node').expect(200);
      expect((await limitedApp.http.get('/metrics').expect(200)).text).toMatch(/kouza_peer_address_rate_limited_total 2/);
    });
  });

  describe('the sender, before decryption', () => {
    let b: NodeIdentity;
    let c: NodeIdentity;

    beforeAll(async () => {
      b = (await generateNodeIdentity('peer-sender-b')).identity;
      c = (await generateNodeIdentity('peer-sender-c')).identity;
      await register(b, '0501').expect(201);
      await register(c, '0502').expect(201);
    });

    /** A JWS signed by `signer` (kid = its node id), in a JWE to A whose header names `sender`. */
    const sealedAs = async (signer: NodeIdentity, sender: string | undefined, to: PeerKeys['encryptionKey'] = keysOfA.encryptionKey) => {
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(queryClaims(signer))))
        .setProtectedHeader({ alg: 'EdDSA', kid: signer.nodeId })
        .sign(signer.signingPrivateKey);
      return new CompactEncrypt(new TextEncoder().encode(jws))
        .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', ...(sender === undefined ? {} : { iss: sender }) })
        .encrypt(to);
    };

    it('the sealed message names its sender in the JWE protected header', async () => {
      const header = JSON.parse(Buffer.from((await sealEnvelope(queryClaims(b), b, keysOfA)).split('.')[0], 'base64url').toString('utf8'));
      expect(header).toMatchObject({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', iss: 'peer-sender-b' });
      await post(await sealedAs(b, 'peer-sender-b')).expect(200);
    });

    it('refuses an unknown sender without decrypting, and a message without a sender', async () => {
      // Sealed to a key A does not hold: had A tried to decrypt it, the reason would be "undecryptable".
      const elsewhere = generateKeyPairSync('x25519').publicKey;
      const stranger = (await generateNodeIdentity('peer-stranger')).identity;
      expect((await post(await sealedAs(stranger, 'peer-stranger', elsewhere)).expect(401)).body.code).toBe('PEER_MESSAGE_REFUSED');
      expect(refusals().at(-1)).toMatchObject({ reason: 'unknown-sender', peerNodeId: 'peer-stranger' });
      await post(await sealedAs(b, undefined)).expect(401);
      expect(refusals().at(-1)).toMatchObject({ reason: 'malformed' });
    });

    it('refuses a message whose JWE sender is not its JWS signer', async () => {
      // C, registered, relays a message B signed: the signature holds, the sender does not.
      expect((await post(await sealedAs(b, 'peer-sender-c')).expect(401)).body.code).toBe('PEER_MESSAGE_REFUSED');
      expect(refusals().at(-1)).toMatchObject({ reason: 'sender-mismatch', peerNodeId: 'peer-sender-c' });
    });
  });

  describe("a peer's answer", () => {
    let peer: PeerNode;
    let written = 0;

    beforeAll(async () => {
      const d = (await generateNodeIdentity('peer-endless')).identity;
      await register(d, '0601').expect(201);
      peer = (await a.app.get(PeersRepository).listActive()).find((p) => p.nodeId === 'peer-endless')!;
    });

    const locate = () => a.app.get(PeerClient).locate(peer, 'inheritance', [{ ref: 'r-1', myNumber: validMyNumber(71_000) }]);

    it('is cut off at PEER_BODY_LIMIT_BYTES while it streams: an endless body', async () => {
      routes.set(`POST ${QUERIES_PATH}`, (req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/jose' });
        const chunk = Buffer.alloc(16 * 1024, 'A');
        const pump = () => {
          while (!res.destroyed && written < 256 * 1024 * 1024) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
      const started = Date.now();
      await expect(locate()).rejects.toMatchObject({ reason: 'malformed', message: 'peer-endless: answer too large' });
      // Well before the request timeout (20 s), and without the peer sending anything like the whole body.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(written).toBeLessThan(32 * 1024 * 1024);
    });

    it("is cut off, for a peer's GET /v1/node too, at 64 KiB", async () => {
      routes.set('GET /v1/node', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(16 * 1024, ' ');
        const pump = () => {
          while (!res.destroyed && written < 512 * 1024 * 1024) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
      const started = Date.now();
      const refused = await refresh('peer-endless').expect(502);
      expect(refused.body).toMatchObject({ code: 'PEER_KEYS_UNAVAILABLE', reason: 'malformed' });
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('is cut off when larger than the limit without a Content-Length', async () => {
      routes.set(`POST ${QUERIES_PATH}`, (req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/jose' });
        res.end(Buffer.alloc(BODY_LIMIT * 4, 'A'));
      });
      await expect(locate()).rejects.toMatchObject({ reason: 'malformed', message: 'peer-endless: answer too large' });
    });
  });
});
