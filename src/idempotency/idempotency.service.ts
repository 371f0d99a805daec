import { createHmac, hkdfSync } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../common/errors/domain-error.js';
import { KEY_MATERIAL } from '../crypto/crypto.tokens.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import { IdempotencyRepository } from './idempotency.repository.js';

const KEY_FORMAT = /^[!-~]{1,255}$/;

export type IdempotencyOutcome = { kind: 'proceed' } | { kind: 'replay'; status: number; body: unknown };

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
 * `Idempotency-Key` handling, in the same transaction as the write it protects: the
 * same key and body give the stored answer, the same key with another body is
 * refused. Requests are compared by an HMAC (keyed from the blind-index keys), never
 * stored: a body holds a My Number.
 */
@Injectable()
export class IdempotencyService {
  private readonly fingerprintKeys: Buffer[];

  constructor(
    private readonly records: IdempotencyRepository,
    @Inject(KEY_MATERIAL) keys: KeyMaterial,
  ) {
    const versions = [keys.activeBlindIndexVersion, ...[...keys.blindIndexKeys.keys()].filter((v) => v !== keys.activeBlindIndexVersion)];
    this.fingerprintKeys = versions.map((v) =>
      Buffer.from(hkdfSync('sha256', keys.blindIndexKeys.get(v)!, Buffer.alloc(0), 'kouza-hub:idempotency', 32)),
    );
  }

  /** Undefined when the header is absent; a DomainError when it is malformed. */
  static parseKey(header: string | string[] | undefined): string | undefined {
    if (header === undefined) return undefined;
    if (typeof header !== 'string' || !KEY_FORMAT.test(header)) {
      throw new DomainError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1-255 printable ASCII characters');
    }
    return header;
  }

  async begin(executor: SqlExecutor, institutionId: string, key: string, route: string, body: unknown): Promise<IdempotencyOutcome> {
    const request = `${route}\n${canonicalJson(body)}`;
    const fingerprints = this.fingerprintKeys.map((k) => createHmac('sha256', k).update(request).digest());
    const stored = await this.records.claim(executor, institutionId, key, fingerprints[0]);
    if (!stored) return { kind: 'proceed' };
    if (!fingerprints.some((f) => f.equals(stored.fingerprint))) {
      throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request');
    }
    if (stored.responseStatus === null) {
      // Claimed by a request that committed no answer: cannot happen, since claim and
      // answer commit together; refuse rather than guess.
      throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key has no stored answer');
    }
    return { kind: 'replay', status: stored.responseStatus, body: stored.responseBody };
  }

  complete(executor: SqlExecutor, institutionId: string, key: string, status: number, body: unknown): Promise<void> {
    return this.records.complete(executor, institutionId, key, status, body);
  }
}
