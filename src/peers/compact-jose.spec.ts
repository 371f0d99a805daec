import { describe, expect, it } from '@jest/globals';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { CompactEncrypt, CompactSign, compactDecrypt, compactVerify } from 'jose';
import {
  CompactJoseError,
  concatKdf,
  decodeProtectedHeader,
  decryptCompact,
  encryptCompact,
  signCompact,
  verifyCompact,
} from './compact-jose.js';

const ed25519 = () => generateKeyPairSync('ed25519');
const x25519 = () => generateKeyPairSync('x25519');

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CompactJoseError);
    return (error as CompactJoseError).reason;
  }
  throw new Error('expected a CompactJoseError');
}

/** Any one byte of any one segment changed (in the decoded bytes, re-encoded canonically). */
function tamper(compact: string, segment: number, at: number, xor: number): string {
  const parts = compact.split('.');
  const bytes = Buffer.from(parts[segment], 'base64url');
  if (bytes.length === 0) {
    parts[segment] = Buffer.from([xor]).toString('base64url');
  } else {
    bytes[at % bytes.length] ^= xor;
    parts[segment] = bytes.toString('base64url');
  }
  return parts.join('.');
}

const payloads = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.json().map((json) => new TextEncoder().encode(json)),
);
/** Extra protected header members a sender may add (kid, skid, typ, a sender id …). */
const extraHeader = fc.dictionary(
  fc.constantFrom('kid', 'skid', 'typ', 'snd', 'cty', 'x-note'),
  fc.string({ maxLength: 40 }),
  { maxKeys: 4 },
);

describe('compact JWS (EdDSA, Ed25519)', () => {
  it('reproduces RFC 8037 A.4 byte for byte and verifies it', () => {
    const d = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
    const x = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
    const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x }, format: 'jwk' });
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    const expected =
      'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.' +
      'hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg';
    expect(signCompact(Buffer.from('Example of Ed25519 signing'), {}, privateKey)).toBe(expected);
    expect(verifyCompact(expected, [publicKey]).payload.toString()).toBe('Example of Ed25519 signing');
  });

  it('what it signs jose verifies, and what jose signs it verifies (any payload, any extra header)', async () => {
    await fc.assert(
      fc.asyncProperty(payloads, extraHeader, async (payload, header) => {
        const { privateKey, publicKey } = ed25519();
        const ours = signCompact(payload, header, privateKey);
        const verified = await compactVerify(ours, publicKey, { algorithms: ['EdDSA'] });
        expect(Buffer.from(verified.payload).equals(Buffer.from(payload))).toBe(true);
        expect(verified.protectedHeader).toEqual({ ...header, alg: 'EdDSA' });

        const theirs = await new CompactSign(payload).setProtectedHeader({ ...header, alg: 'EdDSA' }).sign(privateKey);
        const opened = verifyCompact(theirs, [publicKey]);
        expect(opened.payload.equals(Buffer.from(payload))).toBe(true);
        expect(opened.header).toEqual({ ...header, alg: 'EdDSA' });
      }),
      { numRuns: 60 },
    );
  });

  it('refuses any byte changed in any part', () => {
    const { privateKey, publicKey } = ed25519();
    fc.assert(
      fc.property(payloads, fc.integer({ min: 0, max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (payload, segment, at, xor) => {
        const jws = signCompact(payload, { kid: 'node-a' }, privateKey);
        expect(['malformed', 'bad-signature']).toContain(reasonOf(() => verifyCompact(tamper(jws, segment, at, xor), [publicKey])));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses another key, another algorithm, crit, b64 and non-canonical base64url', () => {
    const { privateKey } = ed25519();
    const other = ed25519().publicKey;
    const jws = signCompact(Buffer.from('{}'), {}, privateKey);
    expect(reasonOf(() => verifyCompact(jws, [other]))).toBe('bad-signature');
    expect(reasonOf(() => verifyCompact(jws, []))).toBe('bad-signature');
    const withHeader = (header: object) =>
      `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${jws.split('.').slice(1).join('.')}`;
    expect(reasonOf(() => verifyCompact(withHeader({ alg: 'none' }), [other]))).toBe('malformed');
    expect(reasonOf(() => verifyCompact(withHeader({ alg: 'HS256' }), [other]))).toBe('malformed');
    expect(reasonOf(() => verifyCompact(withHeader({ alg: 'EdDSA', crit: ['exp'], exp: 1 }), [other]))).toBe('malformed');
    expect(reasonOf(() => verifyCompact(withHeader({ alg: 'EdDSA', b64: false, crit: ['b64'] }), [other]))).toBe('malformed');
    expect(reasonOf(() => verifyCompact(`${jws}=`, [other]))).toBe('malformed');
    expect(reasonOf(() => verifyCompact(`${jws}.x`, [other]))).toBe('malformed');
    expect(reasonOf(() => verifyCompact('a.b', [other]))).toBe('malformed');
  });
});

describe('base64url parts are read strictly', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const reencodes = (text: string) => Buffer.from(text, 'base64url').toString('base64url') === text;

  it('a last character with stray bits, or a 4n+1 length, is refused; the one canonical text is read (oracle: decode and encode back)', () => {
    const { privateKey, publicKey } = ed25519();
    // '{}' encodes to 3 characters (2 stray bits), the 64-byte signature to 86 (4 stray bits).
    const jws = signCompact(Buffer.from('{}'), {}, privateKey);
    const [h, p, sig] = jws.split('.');
    expect([p.length % 4, sig.length % 4]).toEqual([3, 2]);
    for (const c of ALPHABET) {
      for (const [part, forged] of [
        ['payload', `${h}.${p.slice(0, -1)}${c}.${sig}`],
        ['signature', `${h}.${p}.${sig.slice(0, -1)}${c}`],
      ] as const) {
        const text = part === 'payload' ? `${p.slice(0, -1)}${c}` : `${sig.slice(0, -1)}${c}`;
        const expected = !reencodes(text) ? 'malformed' : forged === jws ? 'ok' : 'bad-signature';
        const outcome = (() => {
          try {
            verifyCompact(forged, [publicKey]);
            return 'ok';
          } catch (error) {
            return (error as CompactJoseError).reason;
          }
        })();
        expect([part, c, outcome]).toEqual([part, c, expected]);
      }
    }
    expect(reasonOf(() => verifyCompact(`${h}.${p}A.${sig}`, [publicKey]))).toBe('bad-signature');
    expect(reasonOf(() => verifyCompact(`${h}.${p}AA.${sig}`, [publicKey]))).toBe('malformed');
  });
});

describe('compact JWE (ECDH-ES+A256KW, A256GCM, X25519)', () => {
  it('the Concat KDF gives RFC 7518 Appendix C’s key', () => {
    const z = Buffer.from([
      158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128, 106, 72, 246,
      218, 167, 121, 140, 254, 144, 196,
    ]);
    expect(concatKdf(z, 'A128GCM', Buffer.from('Alice'), Buffer.from('Bob'), 128).toString('base64url')).toBe('VqqN6vgjbSBcIijNcacQGg');
  });

  it('what it seals jose opens, and what jose seals it opens (any payload, any extra header, apu/apv)', async () => {
    await fc.assert(
      fc.asyncProperty(
        payloads,
        extraHeader,
        fc.option(fc.uint8Array({ maxLength: 32 }), { nil: undefined }),
        fc.option(fc.uint8Array({ maxLength: 32 }), { nil: undefined }),
        async (payload, header, apu, apv) => {
          fc.pre(!(apu && apv && Buffer.from(apu).equals(Buffer.from(apv))));
          const { privateKey, publicKey } = x25519();
          const parties = {
            ...(apu ? { apu: Buffer.from(apu).toString('base64url') } : {}),
            ...(apv ? { apv: Buffer.from(apv).toString('base64url') } : {}),
          };
          const ours = encryptCompact(payload, { ...header, ...parties }, publicKey);
          const decrypted = await compactDecrypt(ours, privateKey, {
            keyManagementAlgorithms: ['ECDH-ES+A256KW'],
            contentEncryptionAlgorithms: ['A256GCM'],
          });
          expect(Buffer.from(decrypted.plaintext).equals(Buffer.from(payload))).toBe(true);
          expect(decrypted.protectedHeader).toMatchObject({ ...header, ...parties, alg: 'ECDH-ES+A256KW', enc: 'A256GCM' });

          let sealer = new CompactEncrypt(payload).setProtectedHeader({ ...header, alg: 'ECDH-ES+A256KW', enc: 'A256GCM' });
          if (apu || apv) sealer = sealer.setKeyManagementParameters({ apu, apv });
          const theirs = await sealer.encrypt(publicKey);
          const opened = decryptCompact(theirs, [privateKey]);
          expect(opened.plaintext.equals(Buffer.from(payload))).toBe(true);
          expect(opened.header).toMatchObject({ ...header, alg: 'ECDH-ES+A256KW', enc: 'A256GCM' });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses any byte changed in any part, and a wrong key', () => {
    const { privateKey, publicKey } = x25519();
    const other = x25519().privateKey;
    fc.assert(
      fc.property(payloads, fc.integer({ min: 0, max: 4 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (payload, segment, at, xor) => {
        const jwe = encryptCompact(payload, { kid: 'k1' }, publicKey);
        expect(['malformed', 'undecryptable']).toContain(reasonOf(() => decryptCompact(tamper(jwe, segment, at, xor), [privateKey])));
        expect(reasonOf(() => decryptCompact(jwe, [other]))).toBe('undecryptable');
      }),
      { numRuns: 300 },
    );
  });

  it('opens with whichever of several keys it was sealed to', () => {
    const [a, b] = [x25519(), x25519()];
    const jwe = encryptCompact(Buffer.from('hello'), {}, b.publicKey);
    expect(decryptCompact(jwe, [a.privateKey, b.privateKey]).plaintext.toString()).toBe('hello');
  });

  it('refuses other algorithms, zip, crit, a bad epk and wrong part sizes before using any key', () => {
    const { privateKey, publicKey } = x25519();
    const jwe = encryptCompact(Buffer.from('{}'), {}, publicKey);
    const header = decodeProtectedHeader(jwe);
    const rest = jwe.split('.').slice(1);
    const withHeader = (h: object, parts = rest) => [Buffer.from(JSON.stringify(h)).toString('base64url'), ...parts].join('.');
    const malformed = (h: object, parts?: string[]) => reasonOf(() => decryptCompact(withHeader(h, parts), [privateKey]));
    expect(malformed({ ...header, alg: 'ECDH-ES' })).toBe('malformed');
    expect(malformed({ ...header, alg: 'RSA-OAEP' })).toBe('malformed');
    expect(malformed({ ...header, enc: 'A128GCM' })).toBe('malformed');
    expect(malformed({ ...header, enc: 'A256CBC-HS512' })).toBe('malformed');
    expect(malformed({ ...header, zip: 'DEF' })).toBe('malformed');
    expect(malformed({ ...header, crit: ['x'] })).toBe('malformed');
    expect(malformed({ ...header, epk: undefined })).toBe('malformed');
    const epk = header.epk as Record<string, string>;
    expect(malformed({ ...header, epk: { ...epk, crv: 'X448' } })).toBe('malformed');
    expect(malformed({ ...header, epk: { ...epk, d: epk.x } })).toBe('malformed');
    expect(malformed({ ...header, epk: { ...epk, x: epk.x.slice(2) } })).toBe('malformed');
    expect(malformed({ ...header, apu: 'not base64url!' })).toBe('malformed');
    expect(malformed({ ...header, apu: 'QWxpY2U', apv: 'QWxpY2U' })).toBe('malformed');
    expect(malformed({ ...header, apu: '', apv: '' })).toBe('malformed');
    expect(malformed({ ...header, epk: { ...epk, k: epk.x } })).toBe('malformed');
    expect(malformed(header, [rest[0].slice(4), ...rest.slice(1)])).toBe('malformed');
    expect(malformed(header, [rest[0], rest[1].slice(2), ...rest.slice(2)])).toBe('malformed');
    expect(malformed(header, [...rest.slice(0, 3), rest[3].slice(2)])).toBe('malformed');
    expect(reasonOf(() => decryptCompact(`${jwe}.x`, [privateKey]))).toBe('malformed');
    expect(reasonOf(() => decryptCompact('', [privateKey]))).toBe('malformed');
  });

  it('refuses an ephemeral key of small order (all-zero shared secret)', () => {
    const { privateKey, publicKey } = x25519();
    const jwe = encryptCompact(Buffer.from('{}'), {}, publicKey);
    const header = { ...decodeProtectedHeader(jwe), epk: { kty: 'OKP', crv: 'X25519', x: Buffer.alloc(32).toString('base64url') } };
    const forged = [Buffer.from(JSON.stringify(header)).toString('base64url'), ...jwe.split('.').slice(1)].join('.');
    expect(['malformed', 'undecryptable']).toContain(reasonOf(() => decryptCompact(forged, [privateKey])));
  });
});

