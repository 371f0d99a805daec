import { beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint, CompactEncrypt, CompactSign, compactDecrypt, decodeProtectedHeader } from 'jose';
import type { JWK } from 'jose';
import {
  CLOCK_SKEW_SECONDS,
  EnvelopeError,
  MAX_MESSAGE_LIFETIME_SECONDS,
  checkClaims,
  createNodeIdentity,
  generateNodeIdentity,
  importPeerKeys,
  isPublicOkpJwk,
  openEnvelope,
  sealEnvelope,
  type NodeIdentity,
  type PeerKeys,
} from './envelope.js';

const peerKeysOf = (identity: NodeIdentity): Promise<PeerKeys> =>
  importPeerKeys(identity.nodeId, identity.signingJwk, identity.encryptionJwk);

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(EnvelopeError);
    return (error as EnvelopeError).reason;
  }
  throw new Error('expected an EnvelopeError');
}

function syncReasonOf(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EnvelopeError);
    return (error as EnvelopeError).reason;
  }
  throw new Error('expected an EnvelopeError');
}

/** Replaces one base64url segment of a compact serialization with a one-bit-flipped copy. */
function flipBit(compact: string, segment: number): string {
  const parts = compact.split('.');
  const bytes = Buffer.from(parts[segment], 'base64url');
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  parts[segment] = bytes.toString('base64url');
  return parts.join('.');
}

describe('node identities and peer keys', () => {
  it('generates an identity whose published JWKs are public OKP keys', async () => {
    const { identity, signingPrivateJwk, encryptionPrivateJwk } = await generateNodeIdentity('node-a');
    expect(identity.nodeId).toBe('node-a');
    expect(Object.keys(identity.signingJwk).sort()).toEqual(['crv', 'kty', 'x']);
    expect(identity.signingJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(identity.encryptionJwk).toMatchObject({ kty: 'OKP', crv: 'X25519' });
    expect(isPublicOkpJwk(identity.signingJwk, 'Ed25519')).toBe(true);
    expect(isPublicOkpJwk(identity.encryptionJwk, 'X25519')).toBe(true);
    expect(typeof signingPrivateJwk.d).toBe('string');
    expect(typeof encryptionPrivateJwk.d).toBe('string');
  });

  it('re-creates the same identity from its private JWKs, ignoring alg/use/key_ops members', async () => {
    const { identity, signingPrivateJwk, encryptionPrivateJwk } = await generateNodeIdentity('node-a');
    const again = await createNodeIdentity(
      'node-a',
      { ...signingPrivateJwk, alg: 'Ed25519', use: 'sig' },
      { ...encryptionPrivateJwk, key_ops: ['deriveBits'] },
    );
    expect(again.signingJwk).toEqual(identity.signingJwk);
    expect(again.encryptionJwk).toEqual(identity.encryptionJwk);
    // And the re-created keys work with the published halves of the first.
    const sealed = await sealEnvelope({ hello: 1 }, again, await peerKeysOf(identity));
    const opened = await openEnvelope(sealed, identity, async () => peerKeysOf(again));
    expect(opened.claims).toEqual({ hello: 1 });
  });

  it('refuses a bad node id and private JWKs of the wrong kind', async () => {
    const { signingPrivateJwk, encryptionPrivateJwk } = await generateNodeIdentity('node-a');
    await expect(createNodeIdentity('bad id', signingPrivateJwk, encryptionPrivateJwk)).rejects.toThrow(TypeError);
    await expect(createNodeIdentity('n', encryptionPrivateJwk, signingPrivateJwk)).rejects.toThrow(/OKP Ed25519/);
    const { d: _d, ...publicOnly } = signingPrivateJwk;
    await expect(createNodeIdentity('n', publicOnly, encryptionPrivateJwk)).rejects.toThrow(/d must be/);
  });

  describe('importPeerKeys', () => {
    let identity: NodeIdentity;
    let privateSigning: JWK;
    beforeAll(async () => {
      ({ identity, signingPrivateJwk: privateSigning } = await generateNodeIdentity('node-b'));
    });

    it('imports published public keys', async () => {
      const keys = await peerKeysOf(identity);
      expect(keys.nodeId).toBe('node-b');
    });

    it.each([
      ['a private key (with d)', () => [privateSigning, identity.encryptionJwk], /no "d"/],
      ['the curves swapped', () => [identity.encryptionJwk, identity.signingJwk], /OKP Ed25519/],
      ['an EC key', () => [{ kty: 'EC', crv: 'P-256', x: identity.signingJwk.x, y: identity.signingJwk.x }, identity.encryptionJwk], /OKP/],
      ['a short x', () => [{ ...identity.signingJwk, x: 'AAAA' }, identity.encryptionJwk], /32 bytes/],
      ['an x that is not base64url', () => [identity.signingJwk, { ...identity.encryptionJwk, x: `${identity.encryptionJwk.x!.slice(1)}+` }], /32 bytes/],
      ['not an object', () => ['key', identity.encryptionJwk], /JWK object/],
    ])('refuses %s', async (_label, keys, message) => {
      const [signing, encryption] = keys() as [JWK, JWK];
      await expect(importPeerKeys('node-b', signing, encryption)).rejects.toThrow(message);
    });
  });
});

describe('sealEnvelope / openEnvelope', () => {
  let a: NodeIdentity;
  let b: NodeIdentity;
  let mallory: NodeIdentity;
  let aKeys: PeerKeys;
  let bKeys: PeerKeys;
  const claims = { typ: 'location-query', iss: 'node-a', aud: 'node-b', jti: 'j-1', iat: 1, exp: 2, n: 'ｶﾅ' };

  beforeAll(async () => {
    [a, b, mallory] = await Promise.all(['node-a', 'node-b', 'node-a'].map(async (id) => (await generateNodeIdentity(id)).identity));
    [aKeys, bKeys] = await Promise.all([peerKeysOf(a), peerKeysOf(b)]);
  });

  const resolveA = async (kid: string) => (kid === 'node-a' ? aKeys : undefined);

  it('round-trips: B reads what A sealed, and knows it came from A', async () => {
    const jwe = await sealEnvelope(claims, a, bKeys);
    const opened = await openEnvelope(jwe, b, resolveA);
    expect(opened.claims).toEqual(claims);
    expect(opened.sender).toBe(aKeys);
  });

  it('uses the headers of the contract: JWE ECDH-ES+A256KW/A256GCM around a JWS EdDSA with kid = sender', async () => {
    const jwe = await sealEnvelope(claims, a, bKeys);
    const outer = decodeProtectedHeader(jwe);
    // kid: the thumbprint of the recipient's encryption key it was sealed to.
    // iss: the sender, read (and looked up) before anything is decrypted.
    expect(outer).toMatchObject({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: b.encryptionKid, iss: 'node-a' });
    expect(outer.epk).toMatchObject({ kty: 'OKP', crv: 'X25519' });
    const { plaintext } = await compactDecrypt(jwe, b.encryptionPrivateKey);
    const jws = new TextDecoder().decode(plaintext);
    // kid stays the node id (nodes that predate rotation resolve the sender by it); skid names the signing key.
    expect(decodeProtectedHeader(jws)).toEqual({ alg: 'EdDSA', kid: 'node-a', skid: a.signingKid });
    expect(a.signingKid).toBe(await calculateJwkThumbprint(a.signingJwk, 'sha256'));
    expect(JSON.parse(Buffer.from(jws.split('.')[1], 'base64url').toString('utf8'))).toEqual(claims);
  });

  it('refuses a tampered ciphertext, tag, IV or encrypted key as undecryptable', async () => {
    const jwe = await sealEnvelope(claims, a, bKeys);
    for (const segment of [1, 2, 3, 4]) {
      expect(await reasonOf(openEnvelope(flipBit(jwe, segment), b, resolveA))).toBe('undecryptable');
    }
  });

  it('refuses an envelope sealed to another node key (wrong recipient)', async () => {
    const jwe = await sealEnvelope(claims, a, aKeys);
    expect(await reasonOf(openEnvelope(jwe, b, resolveA))).toBe('undecryptable');
  });

  it('refuses a message signed by a different key than the one registered for its kid', async () => {
    // Mallory claims to be node-a (kid node-a) but signs with her own key.
    const jwe = await sealEnvelope(claims, mallory, bKeys);
    expect(await reasonOf(openEnvelope(jwe, b, resolveA))).toBe('bad-signature');
  });

  it('refuses a sender (JWE iss) that names no registered peer, before decrypting', async () => {
    const jwe = await sealEnvelope(claims, a, bKeys);
    expect(await reasonOf(openEnvelope(jwe, b, async () => undefined))).toBe('unknown-sender');
    // A resolver answering with another node's keys is not taken for the sender's.
    expect(await reasonOf(openEnvelope(jwe, b, async () => bKeys))).toBe('unknown-sender');
    // Not decrypted at all: a recipient without usable keys gives the same answer.
    const keyless = { ...b, encryptionPrivateKey: undefined as never, previous: [] };
    expect(await reasonOf(openEnvelope(jwe, keyless, async () => undefined))).toBe('unknown-sender');
  });

  it('refuses a JWE without a sender in its protected header, and one whose signer is not that sender', async () => {
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: 'EdDSA', kid: 'node-a' })
      .sign(a.signingPrivateKey);
    const sealedBy = (header: Record<string, unknown>) =>
      new CompactEncrypt(new TextEncoder().encode(jws))
        .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', ...header })
        .encrypt(bKeys.encryptionKey);
    expect(await reasonOf(openEnvelope(await sealedBy({}), b, resolveA))).toBe('malformed');
    expect(await reasonOf(openEnvelope(await sealedBy({ iss: 'no such/node' }), b, resolveA))).toBe('malformed');
    // C, registered, sends a JWS signed as node-a: the signer is not the sender.
    const resolveBoth = async (id: string) => (id === 'node-a' ? aKeys : id === 'node-c' ? { ...aKeys, nodeId: 'node-c' } : undefined);
    expect(await reasonOf(openEnvelope(await sealedBy({ iss: 'node-c' }), b, resolveBoth))).toBe('sender-mismatch');
    expect((await openEnvelope(await sealedBy({ iss: 'node-a' }), b, resolveBoth)).claims).toEqual(claims);
  });

  it('refuses what is not a compact JWE, or an unexpected algorithm, as malformed', async () => {
    expect(await reasonOf(openEnvelope('{"queries":[]}', b, resolveA))).toBe('malformed');
    expect(await reasonOf(openEnvelope('a.b.c', b, resolveA))).toBe('malformed');
    const direct = await new CompactEncrypt(new TextEncoder().encode('x'))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', iss: 'node-a' })
      .encrypt(bKeys.encryptionKey);
    expect(await reasonOf(openEnvelope(direct, b, resolveA))).toBe('malformed');
  });

  it('refuses a JWE whose plaintext is not a JWS, or whose JWS is not EdDSA with a node-id kid', async () => {
    const encrypt = (plaintext: string) =>
      new CompactEncrypt(new TextEncoder().encode(plaintext))
        .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', iss: 'node-a' })
        .encrypt(bKeys.encryptionKey);
    expect(await reasonOf(openEnvelope(await encrypt(JSON.stringify(claims)), b, resolveA))).toBe('malformed');
    const noKid = await new CompactSign(new TextEncoder().encode('{}')).setProtectedHeader({ alg: 'EdDSA' }).sign(a.signingPrivateKey);
    expect(await reasonOf(openEnvelope(await encrypt(noKid), b, resolveA))).toBe('malformed');
  });

  it('refuses a signed payload that is not a JSON object', async () => {
    const jws = await new CompactSign(new TextEncoder().encode('[1,2]'))
      .setProtectedHeader({ alg: 'EdDSA', kid: 'node-a' })
      .sign(a.signingPrivateKey);
    const jwe = await new CompactEncrypt(new TextEncoder().encode(jws))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', iss: 'node-a' })
      .encrypt(bKeys.encryptionKey);
    expect(await reasonOf(openEnvelope(jwe, b, resolveA))).toBe('malformed');
  });
});

describe('checkClaims', () => {
  const now = 1_800_000_000;
  const expected = { typ: 'location-query' as const, audience: 'node-b', issuer: 'node-a', now };
  const good = { typ: 'location-query', iss: 'node-a', aud: 'node-b', jti: 'j', iat: now, exp: now + 60 };
  const check = (changes: Record<string, unknown>) => () => checkClaims({ ...good, ...changes }, expected);

  it('accepts a fresh message for us from the signer', () => {
    expect(check({})).not.toThrow();
    // A sender whose clock is slightly ahead is tolerated.
    expect(check({ iat: now + CLOCK_SKEW_SECONDS, exp: now + CLOCK_SKEW_SECONDS + 60 })).not.toThrow();
  });

  it.each([
    ['another type', { typ: 'location-answer' }, 'wrong-type'],
    ['no type', { typ: undefined }, 'wrong-type'],
    ['another audience', { aud: 'node-c' }, 'wrong-audience'],
    ['an audience array', { aud: ['node-b'] }, 'wrong-audience'],
    ['another issuer than the signer', { iss: 'node-c' }, 'wrong-issuer'],
    ['an exp in the past', { iat: now - 120, exp: now - CLOCK_SKEW_SECONDS - 1 }, 'expired'],
    ['an exp exactly at the skew limit', { iat: now - 120, exp: now - CLOCK_SKEW_SECONDS }, 'expired'],
    ['a missing exp', { exp: undefined }, 'malformed'],
    ['a string iat', { iat: String(now) }, 'malformed'],
    ['an iat in the future', { iat: now + CLOCK_SKEW_SECONDS + 1, exp: now + 120 }, 'malformed'],
    ['exp before iat', { iat: now, exp: now - 1 }, 'malformed'],
    ['an absurdly long lifetime', { exp: now + MAX_MESSAGE_LIFETIME_SECONDS + 1 }, 'malformed'],
    ['milliseconds instead of seconds', { iat: now * 1000, exp: now * 1000 + 60_000 }, 'malformed'],
  ])('refuses %s', (_label, changes, reason) => {
    expect(syncReasonOf(check(changes))).toBe(reason);
  });
});

describe('key rotation', () => {
  const claims = { typ: 'location-query', hello: 'world' };
  let oldB: Awaited<ReturnType<typeof generateNodeIdentity>>;
  let newB: Awaited<ReturnType<typeof generateNodeIdentity>>;
  let a: NodeIdentity;
  let aKeys: PeerKeys;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    oldB = await generateNodeIdentity('node-b');
    newB = await generateNodeIdentity('node-b');
    a = (await generateNodeIdentity('node-a')).identity;
    aKeys = await peerKeysOf(a);
  });

  /** B after rotating: new keys current, the old ones previous until notAfter. */
  const rotatedB = (notAfter: number, withEncryption = true) =>
    createNodeIdentity('node-b', newB.signingPrivateJwk, newB.encryptionPrivateJwk, [
      { signingJwk: oldB.signingPrivateJwk, ...(withEncryption ? { encryptionPrivateJwk: oldB.encryptionPrivateJwk } : {}), notAfter },
    ]);
  /** B as a peer sees it after refreshing: new keys, the old signing key until notAfter. */
  const bAsPeer = (notAfter: number) =>
    importPeerKeys('node-b', newB.identity.signingJwk, newB.identity.encryptionJwk, [{ jwk: oldB.identity.signingJwk, notAfter }]);

  it('opens messages sealed to a previous encryption key until its notAfter, not after', async () => {
    const toOldKey = await sealEnvelope(claims, a, await peerKeysOf(oldB.identity));
    const resolveA = async () => aKeys;
    expect((await openEnvelope(toOldKey, await rotatedB(now() + 60), resolveA)).claims).toEqual(claims);
    await expect(openEnvelope(toOldKey, await rotatedB(now() - 1), resolveA)).rejects.toMatchObject({ reason: 'undecryptable' });
    await expect(openEnvelope(toOldKey, await rotatedB(now() + 60, false), resolveA)).rejects.toMatchObject({ reason: 'undecryptable' });
    // Sealed to the new key: opened with it (the JWE kid names it).
    const toNewKey = await sealEnvelope(claims, a, await peerKeysOf(newB.identity));
    expect((await openEnvelope(toNewKey, await rotatedB(now() + 60), resolveA)).claims).toEqual(claims);
  });

  it("verifies against the sender's previous signing key until its notAfter, and refuses it after", async () => {
    const signedOld = await sealEnvelope(claims, oldB.identity, aKeys);
    const signedNew = await sealEnvelope(claims, newB.identity, aKeys);
    const valid = await bAsPeer(now() + 60);
    const expired = await bAsPeer(now() - 1);
    expect((await openEnvelope(signedOld, a, async () => valid)).claims).toEqual(claims);
    expect((await openEnvelope(signedNew, a, async () => valid)).claims).toEqual(claims);
    await expect(openEnvelope(signedOld, a, async () => expired)).rejects.toMatchObject({ reason: 'expired-key' });
    expect((await openEnvelope(signedNew, a, async () => expired)).claims).toEqual(claims);
    // Without skid (a sender that predates rotation), the expired key is not tried either.
    const { identity: noSkid } = { identity: { ...oldB.identity, signingKid: '' } };
    await expect(openEnvelope(await sealEnvelope(claims, noSkid, aKeys), a, async () => expired)).rejects.toMatchObject({
      reason: 'bad-signature',
    });
    expect((await openEnvelope(await sealEnvelope(claims, noSkid, aKeys), a, async () => valid)).claims).toEqual(claims);
  });
});
