import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `kh_` + 43 base64url characters (256 random bits). */
const KEY_PATTERN = /^kh_[A-Za-z0-9_-]{43}$/;

export function generateApiKey(): string {
  return `kh_${randomBytes(32).toString('base64url')}`;
}

export function isWellFormedApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** The few characters shown in listings so that an operator can tell keys apart. */
export function apiKeyPrefix(key: string): string {
  return key.slice(0, 9);
}

export function constantTimeEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
