import { MasterKeySealer } from '../crypto/master-key-sealer.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { generateNodeKeyMaterial } from '../crypto/key-material.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import { WebhookSecrets } from './webhook-secrets.js';

function keys(activeMasterKeyId: string, ...ids: string[]): KeyMaterial {
  return {
    masterKeys: new Map(ids.map((id) => [id, randomBytes(32)])),
    activeMasterKeyId,
    blindIndexKeys: new Map([[1, randomBytes(32)]]),
    activeBlindIndexVersion: 1,
    generated: false,
    node: generateNodeKeyMaterial('node-test'),
  };
}

describe('WebhookSecrets', () => {
  const material = keys('m1', 'm1', 'm2');
  const sut = new WebhookSecrets(new MasterKeySealer(material));
  const institution = randomUUID();
  const secret = randomBytes(32);

  it('seals under the active master key and opens again', () => {
    const sealed = sut.seal(secret, institution);
    expect(sealed.masterKeyId).toBe('m1');
    expect(sealed.ciphertext.includes(secret)).toBe(false);
    expect(sut.open(sealed, institution).equals(secret)).toBe(true);
  });

  it('a ciphertext moved to another institution does not open', () => {
    const sealed = sut.seal(secret, institution);
    expect(() => sut.open(sealed, randomUUID())).toThrow();
  });

  it('opens secrets sealed under a master key that is no longer the active one', () => {
    const sealed = sut.seal(secret, institution);
    const rotated = new WebhookSecrets(new MasterKeySealer({ ...material, activeMasterKeyId: "m2" }));
    expect(rotated.seal(secret, institution).masterKeyId).toBe('m2');
    expect(rotated.open(sealed, institution).equals(secret)).toBe(true);
  });
});
