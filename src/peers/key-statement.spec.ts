import { beforeAll, describe, expect, it } from '@jest/globals';
import { GeneralSign } from 'jose';
import { createNodeIdentity, epochSeconds, generateNodeIdentity, importPeerKeys, type NodeIdentity } from './envelope.js';
import { currentKeyStatement, KEY_STATEMENT_TYPE, publishedNode, signKeyStatement, verifyKeyStatement, type TrustedSigningKey } from './key-statement.js';

const trustedKeyOf = async (identity: NodeIdentity): Promise<TrustedSigningKey> => ({
  kid: identity.signingKid,
  key: (await importPeerKeys(identity.nodeId, identity.signingJwk, identity.encryptionJwk)).signingKey,
});

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { reason: string }).reason;
  }
  return 'accepted';
}

describe('key statements', () => {
  let old: { identity: NodeIdentity; signingPrivateJwk: Record<string, unknown> };
  let rotated: NodeIdentity;
  let rotatedPublicOnly: NodeIdentity;
  let stranger: NodeIdentity;
  const now = epochSeconds();

  beforeAll(async () => {
    old = (await generateNodeIdentity('node-b')) as never;
    const fresh = await generateNodeIdentity('node-b');
    const { d: _d, ...publicOld } = old.signingPrivateJwk;
    rotated = await createNodeIdentity('node-b', fresh.signingPrivateJwk, fresh.encryptionPrivateJwk, [
      { signingJwk: old.signingPrivateJwk, notAfter: now + 3600 },
    ]);
    rotatedPublicOnly = await createNodeIdentity('node-b', fresh.signingPrivateJwk, fresh.encryptionPrivateJwk, [
      { signingJwk: publicOld, notAfter: now + 3600 },
    ]);
    stranger = (await generateNodeIdentity('node-b')).identity;
  });

  it('is signed by the current key and each previous one held privately, with a typ of its own', async () => {
    const statement = await signKeyStatement(rotated, publishedNode(rotated, now), now);
    const headers = statement.signatures.map((s) => JSON.parse(Buffer.from(s.protected!, 'base64url').toString('utf8')));
    expect(headers).toEqual([
      { alg: 'EdDSA', typ: KEY_STATEMENT_TYPE, kid: rotated.signingKid },
      { alg: 'EdDSA', typ: KEY_STATEMENT_TYPE, kid: old.identity.signingKid },
    ]);
    // A peer that knows only the old key believes the new ones.
    const endorsed = await verifyKeyStatement(statement, 'node-b', [await trustedKeyOf(old.identity)]);
    expect(endorsed).toMatchObject({ iat: now, signedBy: old.identity.signingKid });
    expect(endorsed.node).toMatchObject({ nodeId: 'node-b', signingKey: rotated.signingJwk, encryptionKey: rotated.encryptionJwk });
    // A previous key configured public only cannot sign: such a rotation is the operator's to accept.
    const unendorsed = await signKeyStatement(rotatedPublicOnly, publishedNode(rotatedPublicOnly, now), now);
    expect(unendorsed.signatures).toHaveLength(1);
    expect(await reasonOf(verifyKeyStatement(unendorsed, 'node-b', [await trustedKeyOf(old.identity)]))).toBe('untrusted-signature');
  });

  it('refuses a statement by an untrusted key, of another node, stale, from the future, or not a statement', async () => {
    const trusted = [await trustedKeyOf(old.identity)];
    const byStranger = await signKeyStatement(stranger, publishedNode(stranger, now), now);
    expect(await reasonOf(verifyKeyStatement(byStranger, 'node-b', trusted))).toBe('untrusted-signature');
    const statement = await signKeyStatement(old.identity, publishedNode(old.identity, now), now);
    expect(await reasonOf(verifyKeyStatement(statement, 'node-c', trusted))).toBe('wrong-node-id');
    expect(await reasonOf(verifyKeyStatement(statement, 'node-b', trusted, { notBefore: now }))).toBe('stale');
    expect(await reasonOf(verifyKeyStatement(statement, 'node-b', trusted, { notBefore: now - 1 }))).toBe('accepted');
    const future = await signKeyStatement(old.identity, publishedNode(old.identity, now), now + 3600);
    expect(await reasonOf(verifyKeyStatement(future, 'node-b', trusted))).toBe('future');
    expect(await reasonOf(verifyKeyStatement(undefined, 'node-b', trusted))).toBe('absent');
    expect(await reasonOf(verifyKeyStatement('a.b.c', 'node-b', trusted))).toBe('malformed');
    expect(await reasonOf(verifyKeyStatement({ payload: statement.payload, signatures: [] }, 'node-b', trusted))).toBe('malformed');
    // The right key, but another typ (e.g. a JWS made for something else): not a key statement.
    const otherTyp = await new GeneralSign(Buffer.from(JSON.stringify({ ...publishedNode(old.identity), iat: now })))
      .addSignature(old.identity.signingPrivateKey)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: old.identity.signingKid })
      .sign();
    expect(await reasonOf(verifyKeyStatement(otherTyp, 'node-b', trusted))).toBe('untrusted-signature');
    // A tampered payload does not verify.
    const tampered = { ...statement, payload: Buffer.from(JSON.stringify({ ...publishedNode(stranger), iat: now })).toString('base64url') };
    expect(await reasonOf(verifyKeyStatement(tampered, 'node-b', trusted))).toBe('untrusted-signature');
  });

  it('is signed once while the published keys stay the same', async () => {
    const first = currentKeyStatement(rotated, now);
    expect(currentKeyStatement(rotated, now).statement).toBe(first.statement);
    // The previous key past its notAfter: no longer published, a new statement.
    const later = currentKeyStatement(rotated, now + 3601);
    expect(later.statement).not.toBe(first.statement);
    expect(later.node.keys.map((k) => k.status)).toEqual(['current', 'current']);
    expect((await later.statement).signatures).toHaveLength(1);
  });
});
