import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint, decodeProtectedHeader } from 'jose';
import { generateNodeKeyMaterial } from '../../src/crypto/key-material.js';
import { createNodeIdentity, epochSeconds, importPeerKeys, sealEnvelope, type NodeIdentity, type PeerKeys } from '../../src/peers/envelope.js';
import { PeerClient, PeerUnreachableError, type PeerNode } from '../../src/peers/peer-client.js';
import { newMessageId, PROTOCOL_VERSION } from '../../src/peers/peer-messages.js';
import { PeersRepository } from '../../src/peers/peers.repository.js';
import { NODE_IDENTITY } from '../../src/peers/peers.tokens.js';
import { validMyNumber } from './support/my-numbers.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { LINKAGE_SUBJECT } from './support/inquiries.js';
import { eventually, linkageBody, startTestApp, testKeysEnv, type TestApp } from './support/test-app.js';
import { MetricsService } from '../../src/metrics/metrics.service.js';

const GRACE_SECONDS = 8;

/**
 * Two real nodes, A and B. B rotates its node keys (restarted on the same database and
 * port with new NODE_SIGNING_KEY / NODE_ENCRYPTION_KEY and the old signing key in
 * NODE_PREVIOUS_KEYS). A learns the new keys by refreshing, keeps accepting B's old
 * signing key until its notAfter, and refuses it after.
 */
describe('rotating a node’s peer keys', () => {
  let a: TestApp;
  let b1: TestApp | undefined;
  let b2: TestApp;
  let bDatabase: TestDatabase;
  let bPort: number;
  let bEnv: Record<string, string>;
  let nodeA: { nodeId: string; signingKey: Record<string, string>; encryptionKey: Record<string, string> };
  let keysOfA: PeerKeys;
  let oldB: NodeIdentity;
  let newB: NodeIdentity;
  let retiredAt: string;
  const deceased = validMyNumber(88_888_888);

  const peerBAsSeenByA = async (): Promise<PeerNode> =>
    (await a.app.get(PeersRepository).listActive()).find((p) => p.nodeId === bEnv.NODE_ID)!;
  const locate = async () => a.app.get(PeerClient).locate(await peerBAsSeenByA(), 'inheritance', [{ ref: 'r-1', myNumber: deceased, ...LINKAGE_SUBJECT }]);
  /** A location-query to A, signed by one of B's identities. */
  const queryToA = async (from: NodeIdentity) => {
    const iat = epochSeconds();
    const claims = { v: PROTOCOL_VERSION, typ: 'location-query', iss: from.nodeId, aud: nodeA.nodeId, jti: newMessageId(), iat, exp: iat + 60, purpose: 'inheritance', queries: [{ ref: 'q', myNumber: deceased, ...LINKAGE_SUBJECT }] };
    const res = await a.http.post('/v1/peer/location-queries').set('content-type', 'application/jose').send(await sealEnvelope(claims, from, keysOfA));
    return { status: res.status, code: res.body?.code };
  };

  beforeAll(async () => {
    a = await startTestApp({ env: { PEER_KEY_REFRESH_INTERVAL_MS: '1000' } });
    bDatabase = await createTestDatabase();
    bEnv = testKeysEnv();
    b1 = await startTestApp({ database: bDatabase, env: bEnv });
    await b1.app.listen({ port: 0, host: '127.0.0.1' });
    bPort = (b1.app.getHttpServer().address() as AddressInfo).port;

    nodeA = (await a.http.get('/v1/node').expect(200)).body;
    const nodeB = (await b1.http.get('/v1/node').expect(200)).body;
    await a.http
      .post('/v1/peers')
      .set(a.admin)
      .send({ nodeId: nodeB.nodeId, endpointUrl: `http://127.0.0.1:${bPort}`, signingKey: nodeB.signingKey, encryptionKey: nodeB.encryptionKey, institutions: [{ code: '0009', name: 'Bank B' }] })
      .expect(201);
    await b1.http
      .post('/v1/peers')
      .set(b1.admin)
      .send({ nodeId: nodeA.nodeId, endpointUrl: 'http://127.0.0.1:9', signingKey: nodeA.signingKey, encryptionKey: nodeA.encryptionKey, institutions: [{ code: '0005', name: 'Bank A' }] })
      .expect(201);
    const bank = await b1.createInstitution('0009');
    await b1.http.post('/v1/linkages').set(bank.auth).send(linkageBody(deceased)).expect(201);
    keysOfA = await importPeerKeys(nodeA.nodeId, nodeA.signingKey, nodeA.encryptionKey);
    oldB = await createNodeIdentity(bEnv.NODE_ID, JSON.parse(bEnv.NODE_SIGNING_KEY), JSON.parse(bEnv.NODE_ENCRYPTION_KEY));
    // Before the rotation, A and B talk.
    expect((await locate()).get('r-1')).toEqual([expect.objectContaining({ code: '0009' })]);

    // B rotates: new keys current, the old signing key previous (its encryption key is
    // dropped, so only a sender using the new encryption key is understood).
    await b1.close();
    b1 = undefined;
    const fresh = generateNodeKeyMaterial(bEnv.NODE_ID);
    retiredAt = new Date().toISOString();
    b2 = await startTestApp({
      database: bDatabase,
      env: {
        ...bEnv,
        NODE_SIGNING_KEY: JSON.stringify(fresh.signingPrivateJwk),
        NODE_ENCRYPTION_KEY: JSON.stringify(fresh.encryptionPrivateJwk),
        NODE_PREVIOUS_KEYS: JSON.stringify([{ signingKey: JSON.parse(bEnv.NODE_SIGNING_KEY), retiredAt }]),
        NODE_KEY_GRACE_SECONDS: String(GRACE_SECONDS),
      },
    });
    await b2.app.listen({ port: bPort, host: '127.0.0.1' });
    newB = await createNodeIdentity(bEnv.NODE_ID, fresh.signingPrivateJwk, fresh.encryptionPrivateJwk);
  }, 60_000);

  afterAll(async () => {
    await b1?.close();
    await b2?.close();
    await a?.close();
    await bDatabase?.drop();
  });

  it('GET /v1/node shows the new keys, and the previous signing key with its notAfter', async () => {
    const node = (await b2.http.get('/v1/node').expect(200)).body;
    expect(node.signingKey).toEqual(newB.signingJwk);
    expect(node.encryptionKey).toEqual(newB.encryptionJwk);
    const notAfter = new Date(Date.parse(retiredAt) - (Date.parse(retiredAt) % 1000) + GRACE_SECONDS * 1000).toISOString();
    expect(node.keys).toEqual([
      { ...newB.signingJwk, kid: await calculateJwkThumbprint(newB.signingJwk, 'sha256'), use: 'sig', status: 'current' },
      { ...newB.encryptionJwk, kid: await calculateJwkThumbprint(newB.encryptionJwk, 'sha256'), use: 'enc', status: 'current' },
      { ...oldB.signingJwk, kid: await calculateJwkThumbprint(oldB.signingJwk, 'sha256'), use: 'sig', status: 'previous', notAfter },
    ]);
    expect(JSON.stringify(node)).not.toContain('"d"');
  });

  it('A, not yet refreshed, seals to the old key: B refuses; A refreshes and uses the new encryption key', async () => {
    await expect(locate()).rejects.toMatchObject({ name: PeerUnreachableError.name, reason: 'refused' });
    const refreshed = await a.http.post(`/v1/peers/${bEnv.NODE_ID}/refresh`).set(a.admin).expect(200);
    expect(refreshed.body).toMatchObject({
      nodeId: bEnv.NODE_ID,
      signingKey: newB.signingJwk,
      encryptionKey: newB.encryptionJwk,
      previousSigningKeys: [{ ...oldB.signingJwk, notAfter: expect.any(String) }],
      keysRefreshedAt: expect.any(String),
    });
    const peer = await peerBAsSeenByA();
    const sealed = await sealEnvelope({ hello: 1 }, a.app.get<NodeIdentity>(NODE_IDENTITY), peer.keys);
    expect(decodeProtectedHeader(sealed).kid).toBe(newB.encryptionKid);
    expect((await locate()).get('r-1')).toEqual([expect.objectContaining({ code: '0009' })]);
    const { rows } = await a.db.pool.query(`SELECT actor_type, details FROM audit_events WHERE action = 'peer.refresh-keys'`);
    expect(rows).toEqual([{ actor_type: 'operator', details: { nodeId: bEnv.NODE_ID, changed: true, previousSigningKeys: 1 } }]);
  });

  it("accepts messages signed with B's old key during the grace period, and refuses them after", async () => {
    expect(await queryToA(newB)).toEqual({ status: 200, code: undefined });
    expect(await queryToA(oldB)).toEqual({ status: 200, code: undefined });
    const notAfter = Date.parse((await a.http.get(`/v1/peers/${bEnv.NODE_ID}`).set(a.admin).expect(200)).body.previousSigningKeys[0].notAfter);
    // Wait for the grace period to end (a deadline, not a measurement).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, notAfter - Date.now()) + 1100));
    expect(await queryToA(oldB)).toEqual({ status: 401, code: 'PEER_MESSAGE_REFUSED' });
    expect(await queryToA(newB)).toEqual({ status: 200, code: undefined });
    // B no longer publishes the old key either.
    expect((await b2.http.get('/v1/node').expect(200)).body.keys.map((k: any) => k.status)).toEqual(['current', 'current']);
  }, 30_000);

  it('refuses a refresh from an endpoint that publishes another node id, and the worker refreshes on a schedule', async () => {
    // A peer registered with B's endpoint under another node id: refused, nothing stored.
    await a.http
      .post('/v1/peers')
      .set(a.admin)
      .send({ nodeId: 'impostor', endpointUrl: `http://127.0.0.1:${bPort}`, signingKey: oldB.signingJwk, encryptionKey: oldB.encryptionJwk, institutions: [{ code: '0077', name: 'X' }] })
      .expect(201);
    const refused = await a.http.post('/v1/peers/impostor/refresh').set(a.admin);
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 502, code: 'PEER_KEYS_UNAVAILABLE' });
    expect((await a.http.get('/v1/peers/impostor').set(a.admin).expect(200)).body).toMatchObject({ signingKey: oldB.signingJwk, keysRefreshedAt: null });
    expect((await a.http.post('/v1/peers/nobody/refresh').set(a.admin)).status).toBe(404);
    await a.http.delete('/v1/peers/impostor').set(a.admin).expect(200);

    const before = (await a.http.get(`/v1/peers/${bEnv.NODE_ID}`).set(a.admin).expect(200)).body.keysRefreshedAt;
    const worker = await a.startWorker();
    await eventually(
      async () => (await a.db.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'peer.refresh-keys' AND actor_type = 'system'`)).rows[0].n,
      (n) => n > 0,
      20_000,
    );
    // Each scheduled fetch is counted for the KouzaPeerKeysUnrefreshed alert.
    const metrics = await worker.get(MetricsService).registry.metrics();
    expect(metrics).toMatch(/^kouza_peer_key_refreshes_total\{outcome="refreshed"\} [1-9]/m);
    expect(metrics).not.toMatch(/^kouza_peer_key_refreshes_total\{outcome="failed"\}/m);
    const after = (await a.http.get(`/v1/peers/${bEnv.NODE_ID}`).set(a.admin).expect(200)).body;
    expect(Date.parse(after.keysRefreshedAt)).toBeGreaterThan(Date.parse(before));
    // The expired key is no longer published, so no longer stored.
    expect(after.previousSigningKeys).toEqual([]);
  }, 40_000);

  it("registers a peer from its whole GET /v1/node answer, keys included; malformed keys are refused", async () => {
    const node = (await b2.http.get('/v1/node').expect(200)).body;
    const registration = { ...node, endpointUrl: `http://127.0.0.1:${bPort}`, institutions: [{ code: '0009', name: 'Bank B' }] };
    const res = await a.http.post('/v1/peers').set(a.admin).send(registration).expect(200);
    expect(res.body).toMatchObject({ signingKey: newB.signingJwk, encryptionKey: newB.encryptionJwk, previousSigningKeys: [] });
    const bad = await a.http
      .post('/v1/peers')
      .set(a.admin)
      .send({ ...registration, keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'short', use: 'sig', status: 'previous', notAfter: '2999-01-01T00:00:00Z' }] });
    expect({ status: bad.status, code: bad.body.code, paths: bad.body.errors?.map((e: any) => e.path) }).toEqual({
      status: 422,
      code: 'VALIDATION_FAILED',
      paths: ['keys'],
    });
  });
});
