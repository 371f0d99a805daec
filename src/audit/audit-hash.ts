import { createHash, createHmac } from 'node:crypto';
import type { CanonicalAuditRow } from './audit.repository.js';

/** The chain starts from 32 zero bytes. */
export const GENESIS_HASH = Buffer.alloc(32);

/** The bytes an event is hashed as: its columns in a fixed order, as JSON. */
export function canonicalEvent(row: CanonicalAuditRow): string {
  return JSON.stringify([
    row.id,
    row.occurred_at,
    row.institution_id,
    row.actor_type,
    row.api_key_id,
    row.branch_code,
    row.operator_id,
    row.action,
    row.resource_type,
    row.resource_id,
    row.subject_id,
    row.request_id,
    row.details,
  ]);
}

/** hash(n) = SHA-256(hash(n−1) || canonical(event n)). */
export function chainHash(prevHash: Buffer, row: CanonicalAuditRow): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalEvent(row), 'utf8').digest();
}

/**
 * How a link is computed, stored with it (audit_chain.link_version): 1 is the plain
 * SHA-256 above (links sealed before the chain was keyed, never rewritten), 2 the
 * HMAC below. New links are always 2.
 */
export type LinkVersion = 1 | 2;
export const PLAIN_LINK: LinkVersion = 1;
export const KEYED_LINK: LinkVersion = 2;

/**
 * hash(n) = HMAC-SHA-256(AUDIT_CHAIN_KEY, hash(n−1) || canonical(event n)): whoever
 * rewrites a row in the database cannot compute the links that would hide it without
 * the key, which the database never sees.
 */
export function keyedChainHash(key: Buffer, prevHash: Buffer, row: CanonicalAuditRow): Buffer {
  return createHmac('sha256', key).update(prevHash).update(canonicalEvent(row), 'utf8').digest();
}

/** The link of a row under the given version. */
export function linkHash(version: LinkVersion, key: Buffer, prevHash: Buffer, row: CanonicalAuditRow): Buffer {
  return version === KEYED_LINK ? keyedChainHash(key, prevHash, row) : chainHash(prevHash, row);
}
