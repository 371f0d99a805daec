import { createHash } from 'node:crypto';
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
