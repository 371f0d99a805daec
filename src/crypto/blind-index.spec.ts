import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { myNumberCheckDigit } from '../common/my-number/my-number.js';
import { BlindIndex } from './blind-index.js';
import { generateNodeKeyMaterial, type KeyMaterial } from './key-material.js';

function keyMaterial(blindIndexKeys: Array<[number, Buffer]>, activeBlindIndexVersion: number): KeyMaterial {
  return {
    masterKeys: new Map([['m1', randomBytes(32)]]),
    activeMasterKeyId: 'm1',
    blindIndexKeys: new Map(blindIndexKeys),
    activeBlindIndexVersion,
    node: generateNodeKeyMaterial('node-test'),
    generated: false,
  };
}

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const k3 = randomBytes(32);
const NUMBER = '123456789018';

const validMyNumber = fc
  .string({ unit: fc.constantFrom(...'0123456789'), minLength: 11, maxLength: 11 })
  .map((prefix) => prefix + String(myNumberCheckDigit(prefix)));

describe('BlindIndex', () => {
  it('is deterministic for the same key', () => {
    const a = new BlindIndex(keyMaterial([[1, k1]], 1));
    const b = new BlindIndex(keyMaterial([[1, Buffer.from(k1)]], 1));
    expect(a.compute(NUMBER).digest).toEqual(a.compute(NUMBER).digest);
    expect(a.compute(NUMBER).digest).toEqual(b.compute(NUMBER).digest);
  });

  it('differs under a different key', () => {
    const a = new BlindIndex(keyMaterial([[1, k1]], 1));
    const b = new BlindIndex(keyMaterial([[1, k2]], 1));
    expect(a.compute(NUMBER).digest.equals(b.compute(NUMBER).digest)).toBe(false);
  });

  it('differs between key versions of the same material', () => {
    const sut = new BlindIndex(keyMaterial([[1, k1], [2, k2]], 2));
    const [v2, v1] = sut.computeAll(NUMBER);
    expect(v2.digest.equals(v1.digest)).toBe(false);
  });

  it('computes with the active version, whichever it is', () => {
    const keys: Array<[number, Buffer]> = [[1, k1], [2, k2], [3, k3]];
    for (const [active, key] of keys) {
      const sut = new BlindIndex(keyMaterial(keys, active));
      expect(sut.activeVersion).toBe(active);
      const value = sut.compute(NUMBER);
      expect(value.version).toBe(active);
      expect(value.digest).toEqual(new BlindIndex(keyMaterial([[active, key]], active)).compute(NUMBER).digest);
    }
  });

  it('computeAll gives one value per version held, the active one first', () => {
    const sut = new BlindIndex(keyMaterial([[1, k1], [2, k2], [3, k3]], 2));
    const all = sut.computeAll(NUMBER);
    expect(all).toHaveLength(3);
    expect(all[0]).toEqual(sut.compute(NUMBER));
    expect(all.map((v) => v.version).sort()).toEqual([1, 2, 3]);
    expect(new Set(all.map((v) => v.digest.toString('hex'))).size).toBe(3);
  });

  it('computeAll with a single version is just compute', () => {
    const sut = new BlindIndex(keyMaterial([[7, k1]], 7));
    expect(sut.computeAll(NUMBER)).toEqual([sut.compute(NUMBER)]);
  });

  it('gives a 32-byte keyed digest, not the plain SHA-256 of the number', () => {
    const digest = new BlindIndex(keyMaterial([[1, k1]], 1)).compute(NUMBER).digest;
    expect(digest).toHaveLength(32);
    expect(digest.equals(createHash('sha256').update(NUMBER).digest())).toBe(false);
    // HMAC-SHA-256 under the version's key, so that a key holder can recompute it elsewhere.
    expect(digest).toEqual(createHmac('sha256', k1).update(NUMBER).digest());
  });

  it('gives different digests for different valid My Numbers', () => {
    const sut = new BlindIndex(keyMaterial([[1, k1], [2, k2]], 1));
    fc.assert(
      fc.property(validMyNumber, validMyNumber, (a, b) => {
        fc.pre(a !== b);
        expect(sut.compute(a).digest.equals(sut.compute(b).digest)).toBe(false);
        const all = sut.computeAll(a);
        sut.computeAll(b).forEach((v, i) => expect(v.digest.equals(all[i].digest)).toBe(false));
      }),
      { numRuns: 500 },
    );
  });
});
