import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { aesGcmOpen, aesGcmSeal } from './aes-gcm.js';

const key = randomBytes(32);
const aad = Buffer.from('kouza-hub:test:aad');
const plaintext = Buffer.from('123456789018', 'ascii');

/** version (1) || iv (12) || tag (16) || body */
const IV = { start: 1, end: 13 };
const TAG = { start: 13, end: 29 };

function flipByte(sealed: Buffer, index: number): Buffer {
  const copy = Buffer.from(sealed);
  copy[index] ^= 0x01;
  return copy;
}

describe('aesGcmSeal / aesGcmOpen', () => {
  it('opens what it sealed', () => {
    const sut = aesGcmSeal(key, plaintext, aad);
    expect(aesGcmOpen(key, sut, aad)).toEqual(plaintext);
  });

  it('format 2: opens what it sealed, and authenticates the format byte', () => {
    const sut = aesGcmSeal(key, plaintext, aad, 2);
    expect(sut[0]).toBe(2);
    expect(aesGcmOpen(key, sut, aad)).toEqual(plaintext);
    const downgraded = Buffer.from(sut);
    downgraded[0] = 1;
    expect(() => aesGcmOpen(key, downgraded, aad)).toThrow();
  });

  it('round-trips an empty plaintext and a long one', () => {
    for (const text of [Buffer.alloc(0), randomBytes(10_000)]) {
      expect(aesGcmOpen(key, aesGcmSeal(key, text, aad), aad)).toEqual(text);
    }
  });

  it('uses a fresh IV for every seal, so equal plaintexts give different ciphertexts', () => {
    const a = aesGcmSeal(key, plaintext, aad);
    const b = aesGcmSeal(key, plaintext, aad);
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(IV.start, IV.end).equals(b.subarray(IV.start, IV.end))).toBe(false);
  });

  it('does not contain the plaintext in clear', () => {
    expect(aesGcmSeal(key, plaintext, aad).includes(plaintext)).toBe(false);
  });

  describe('refuses a ciphertext that was tampered with', () => {
    const sealed = aesGcmSeal(key, plaintext, aad);
    const regions = {
      iv: [IV.start, IV.end],
      tag: [TAG.start, TAG.end],
      body: [TAG.end, sealed.length],
    } as const;

    it.each(Object.entries(regions))('any byte of the %s', (_name, [start, end]) => {
      for (let i = start; i < end; i++) {
        expect(() => aesGcmOpen(key, flipByte(sealed, i), aad)).toThrow();
      }
    });

    it('a truncated ciphertext (header only, shorter than the header, one body byte less)', () => {
      expect(() => aesGcmOpen(key, sealed.subarray(0, TAG.end), aad)).toThrow();
      expect(() => aesGcmOpen(key, sealed.subarray(0, TAG.end - 1), aad)).toThrow();
      expect(() => aesGcmOpen(key, sealed.subarray(0, sealed.length - 1), aad)).toThrow();
      expect(() => aesGcmOpen(key, Buffer.alloc(0), aad)).toThrow();
    });

    it('a ciphertext with another format version', () => {
      for (const version of [0, 2, 255]) {
        const copy = Buffer.from(sealed);
        copy[0] = version;
        expect(() => aesGcmOpen(key, copy, aad)).toThrow();
      }
    });

    it('extra bytes appended', () => {
      expect(() => aesGcmOpen(key, Buffer.concat([sealed, Buffer.of(0)]), aad)).toThrow();
    });
  });

  it('refuses to open under another key', () => {
    const sealed = aesGcmSeal(key, plaintext, aad);
    expect(() => aesGcmOpen(randomBytes(32), sealed, aad)).toThrow();
  });

  it('refuses to open with another AAD (also an empty one)', () => {
    const sealed = aesGcmSeal(key, plaintext, aad);
    expect(() => aesGcmOpen(key, sealed, Buffer.from('kouza-hub:test:other'))).toThrow();
    expect(() => aesGcmOpen(key, sealed, Buffer.alloc(0))).toThrow();
  });
});
