import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { generateNodeKeyMaterial, KeyMaterialError, type KeyMaterial } from './key-material.js';
import { dataKeyAad, MasterKeySealer, webhookSecretAad } from './master-key-sealer.js';

const material = (active: string, ids: string[], keys = new Map(ids.map((id) => [id, randomBytes(32)]))): KeyMaterial => ({
  masterKeys: keys,
  activeMasterKeyId: active,
  blindIndexKeys: new Map([[1, randomBytes(32)]]),
  activeBlindIndexVersion: 1,
  node: generateNodeKeyMaterial('n'),
  generated: false,
});

describe('MasterKeySealer', () => {
  const secret = randomBytes(32);

  it('seals under the active key and opens what any held key sealed', () => {
    const keys = new Map([['m1', randomBytes(32)], ['m2', randomBytes(32)]]);
    const before = new MasterKeySealer(material('m1', [], keys));
    const after = new MasterKeySealer(material('m2', [], keys));
    const old = before.seal(secret, dataKeyAad('d1'));
    expect(old.masterKeyId).toBe('m1');
    expect(after.open(old, dataKeyAad('d1'))).toEqual(secret);
    expect(after.seal(secret, dataKeyAad('d1')).masterKeyId).toBe('m2');
  });

  it('reseal moves a secret to the active key; the same secret opens, under the new key only', () => {
    const keys = new Map([['m1', randomBytes(32)], ['m2', randomBytes(32)]]);
    const old = new MasterKeySealer(material('m1', [], keys)).seal(secret, webhookSecretAad('i1'));
    const sut = new MasterKeySealer(material('m2', [], keys));
    const moved = sut.reseal(old, webhookSecretAad('i1'));
    expect(moved.masterKeyId).toBe('m2');
    expect(moved.ciphertext.equals(old.ciphertext)).toBe(false);
    const onlyNew = new MasterKeySealer(material('m2', [], new Map([['m2', keys.get('m2')!]])));
    expect(onlyNew.open(moved, webhookSecretAad('i1'))).toEqual(secret);
    expect(() => onlyNew.open(old, webhookSecretAad('i1'))).toThrow(KeyMaterialError);
    // Already under the active key: left as it is.
    expect(sut.reseal(moved, webhookSecretAad('i1'))).toBe(moved);
  });

  it('the additional data binds a sealed secret to its row', () => {
    const sut = new MasterKeySealer(material('m1', ['m1']));
    const sealed = sut.seal(secret, dataKeyAad('d1'));
    expect(() => sut.open(sealed, dataKeyAad('d2'))).toThrow();
  });
});
