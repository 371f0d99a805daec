import { createHmac, hkdfSync } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../common/errors/domain-error.js';
import { KEY_MATERIAL } from '../crypto/crypto.tokens.js';
import type { KeyMaterial } from '../crypto/key-material.js';

const KEY_FORMAT = /^[!-~]{1,255}$/;

/** JSON with object keys sorted, so that the same request always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null'; // as JSON.stringify writes it inside arrays
  if (value && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * `Idempotency-Key` support: the key's format, the form it is stored in, and the
 * request's fingerprint. The claim, the comparison and the stored answer live with the
 * write they protect (`kouza_attach`). Requests are compared by an HMAC keyed from the
 * blind-index keys, never stored: a body holds a My Number.
 *
 * The key itself is stored only as an HMAC of the route and the key (`storedKey`): a key
 * is the caller's free text and may hold a number, and a key is scoped to its route, so
 * that the same key sent to two routes names two requests. Its HMAC key derives from the
 * oldest blind-index key held, which a rotation does not change (the new version is
 * added, the old one stays until its re-index is done): a retry is recognised across a
 * rotation, and no longer once the old key is dropped, well after IDEMPOTENCY_TTL_HOURS.
 */
@Injectable()
export class IdempotencyService {
  private readonly fingerprintKeys: Buffer[];
  private readonly storedKeyKey: Buffer;

  constructor(@Inject(KEY_MATERIAL) keys: KeyMaterial) {
    const versions = [keys.activeBlindIndexVersion, ...[...keys.blindIndexKeys.keys()].filter((v) => v !== keys.activeBlindIndexVersion)];
    this.fingerprintKeys = versions.map((v) =>
      Buffer.from(hkdfSync('sha256', keys.blindIndexKeys.get(v)!, Buffer.alloc(0), 'kouza-hub:idempotency', 32)),
    );
    const oldest = Math.min(...keys.blindIndexKeys.keys());
    this.storedKeyKey = Buffer.from(hkdfSync('sha256', keys.blindIndexKeys.get(oldest)!, Buffer.alloc(0), 'kouza-hub:idempotency-key', 32));
  }

  /**
   * The form a caller's key is stored and looked up in: `k1.` and the base64url HMAC of
   * the route and the key. (The service's own keys, such as numbering's, hold a space,
   * which a header's key cannot: the two never collide.)
   */
  storedKey(route: string, key: string): string {
    return `k1.${createHmac('sha256', this.storedKeyKey).update(`${route}\n${key}`).digest('base64url')}`;
  }

  /** Undefined when the header is absent; a DomainError when it is malformed. */
  static parseKey(header: string | string[] | undefined): string | undefined {
    if (header === undefined) return undefined;
    if (typeof header !== 'string' || !KEY_FORMAT.test(header)) {
      throw new DomainError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1-255 printable ASCII characters');
    }
    return header;
  }

  /** Marks an answer replayed from an earlier request with the same key (`Idempotent-Replayed: true`). */
  static markReplayed(reply: { header(name: string, value: string): unknown }, replayed: boolean): void {
    if (replayed) reply.header('idempotent-replayed', 'true');
  }

  /** HMACs of the request under every key version held, the active one first. */
  fingerprints(route: string, body: unknown): Buffer[] {
    const request = `${route}\n${canonicalJson(body)}`;
    return this.fingerprintKeys.map((k) => createHmac('sha256', k).update(request).digest());
  }
}
