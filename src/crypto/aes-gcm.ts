import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Layout of every ciphertext this service writes: format || iv || tag || ciphertext.
 * The format byte tells the opener which additional data the writer bound it to
 * (e.g. MyNumberCipher: 1 = the institution, 2 = the row); the layout is the same.
 */
export const CIPHERTEXT_FORMATS = [1, 2] as const;
export type CiphertextFormat = (typeof CIPHERTEXT_FORMATS)[number];
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

/**
 * The additional data as authenticated: from format 2 on, the format byte is part of
 * it, so that a ciphertext's format cannot be changed without its failing to open
 * (format 1 authenticates the caller's data alone, as it always did).
 */
function authenticated(format: CiphertextFormat, aad: Buffer): Buffer {
  return format === 1 ? aad : Buffer.concat([Buffer.of(format), aad]);
}

/** The format byte of a ciphertext, or undefined when it is none this service writes. */
export function ciphertextFormat(sealed: Buffer): CiphertextFormat | undefined {
  const format = sealed.length >= HEADER_BYTES ? sealed[0] : undefined;
  return CIPHERTEXT_FORMATS.find((f) => f === format);
}

export function aesGcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer, format: CiphertextFormat = 1): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(authenticated(format, aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(format), iv, cipher.getAuthTag(), body]);
}

export function aesGcmOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const format = ciphertextFormat(sealed);
  if (format === undefined) {
    throw new Error('unrecognised ciphertext format');
  }
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(authenticated(format, aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]);
}
