import { createPrivateKey } from 'node:crypto';
import type { JWK } from 'jose';
import { seedBytes, type Seed } from './seeded.js';

/**
 * PKCS #8 prefixes of a 32-byte Ed25519 / X25519 private key (RFC 8410): with them a
 * seed-derived 32-byte string becomes a key, so that a simulated node keeps its keys
 * from one run to the next and a registration made earlier stays valid.
 */
const PKCS8_PREFIX = {
  Ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  X25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
} as const;

export function seededPrivateJwk(seed: Seed, purpose: string, crv: keyof typeof PKCS8_PREFIX): JWK {
  const der = Buffer.concat([PKCS8_PREFIX[crv], seedBytes(seed, `${purpose}/${crv}`)]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }) as JWK;
}
