import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalEvent, chainHash, GENESIS_HASH, KEYED_LINK, keyedChainHash, linkHash, PLAIN_LINK } from './audit-hash.js';
import type { CanonicalAuditRow } from './audit.repository.js';

const row = (): CanonicalAuditRow => ({
  id: '42',
  occurred_at: '2026-04-01T01:15:00.000Z',
  institution_id: '7b0c2b1e-0000-4000-8000-000000000001',
  actor_type: 'operator',
  api_key_id: '7b0c2b1e-0000-4000-8000-0000000000aa',
  branch_code: '001',
  operator_id: 'T0042',
  action: 'linkage.attach',
  resource_type: 'linkage',
  resource_id: '7b0c2b1e-0000-4000-8000-0000000000bb',
  subject_id: '7b0c2b1e-0000-4000-8000-0000000000cc',
  request_id: 'req-1',
  details: '{"accounts":2}',
});

const FIELDS = Object.keys(row()) as Array<keyof CanonicalAuditRow>;
const prev = createHash('sha256').update('previous link').digest();

describe('audit chain hash', () => {
  it('gives the same hash for the same row and previous hash', () => {
    expect(chainHash(prev, row())).toEqual(chainHash(Buffer.from(prev), row()));
    expect(canonicalEvent(row())).toBe(canonicalEvent(row()));
  });

  it('is a 32-byte SHA-256 over the previous hash and the canonical event', () => {
    const expected = createHash('sha256').update(Buffer.concat([prev, Buffer.from(canonicalEvent(row()), 'utf8')])).digest();
    expect(chainHash(prev, row())).toEqual(expected);
  });

  it('starts from 32 zero bytes', () => {
    expect(GENESIS_HASH).toEqual(Buffer.alloc(32));
  });

  it('does not depend on the order the row object lists its properties in', () => {
    const reversed = Object.fromEntries(Object.entries(row()).reverse()) as unknown as CanonicalAuditRow;
    expect(chainHash(prev, reversed)).toEqual(chainHash(prev, row()));
  });

  it.each(FIELDS)('changes when %s changes', (field) => {
    const base = chainHash(prev, row());
    const changedValues = [`${row()[field] ?? ''}x`, null, ''];
    for (const value of changedValues) {
      if (value === row()[field]) continue;
      const changed = { ...row(), [field]: value } as CanonicalAuditRow;
      expect(chainHash(prev, changed).equals(base)).toBe(false);
    }
  });

  it('tells a null column from the string "null" and from an empty string', () => {
    const hashes = [null, 'null', ''].map((operator_id) => chainHash(prev, { ...row(), operator_id }).toString('hex'));
    expect(new Set(hashes).size).toBe(3);
  });

  it('cannot be fooled by moving text from one column to the next', () => {
    const a = { ...row(), branch_code: '001', operator_id: 'T0042' };
    const b = { ...row(), branch_code: '001T', operator_id: '0042' };
    expect(chainHash(prev, a).equals(chainHash(prev, b))).toBe(false);
  });

  it('depends on the previous hash', () => {
    expect(chainHash(prev, row()).equals(chainHash(GENESIS_HASH, row()))).toBe(false);
    const flipped = Buffer.from(prev);
    flipped[31] ^= 1;
    expect(chainHash(prev, row()).equals(chainHash(flipped, row()))).toBe(false);
  });

  it('changes when any single field takes any other value', () => {
    const value = fc.option(fc.string(), { nil: null });
    fc.assert(
      fc.property(fc.constantFrom(...FIELDS), value, (field, v) => {
        fc.pre(v !== row()[field]);
        const changed = { ...row(), [field]: v } as CanonicalAuditRow;
        expect(chainHash(prev, changed).equals(chainHash(prev, row()))).toBe(false);
      }),
    );
  });

  it('chains: changing an early row changes every later hash', () => {
    const rows = [1, 2, 3].map((n) => ({ ...row(), id: String(n) }));
    const chain = (rs: CanonicalAuditRow[]) => {
      let h: Buffer = GENESIS_HASH;
      return rs.map((r) => (h = chainHash(h, r)));
    };
    const original = chain(rows);
    const tampered = chain([{ ...rows[0], details: '{"accounts":3}' }, rows[1], rows[2]]);
    original.forEach((h, i) => expect(h.equals(tampered[i])).toBe(false));
  });
});

describe('keyed audit chain links (link version 2)', () => {
  const key = createHash('sha256').update('audit chain key').digest();
  const otherKey = createHash('sha256').update('another key').digest();

  it('is HMAC-SHA-256 under the key over the previous hash and the canonical event', () => {
    const expected = createHmac('sha256', key).update(Buffer.concat([prev, Buffer.from(canonicalEvent(row()), 'utf8')])).digest();
    expect(keyedChainHash(key, prev, row())).toEqual(expected);
    expect(linkHash(KEYED_LINK, key, prev, row())).toEqual(expected);
  });

  it('differs from the plain link and under another key: a rewrite re-linked without the key does not verify', () => {
    const keyed = keyedChainHash(key, prev, row());
    expect(keyed.equals(chainHash(prev, row()))).toBe(false);
    expect(keyed.equals(keyedChainHash(otherKey, prev, row()))).toBe(false);
  });

  it('version 1 links stay plain SHA-256 (rows sealed before the chain was keyed)', () => {
    expect(linkHash(PLAIN_LINK, key, prev, row())).toEqual(chainHash(prev, row()));
  });

  it('changes when any single field takes any other value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FIELDS), fc.option(fc.string(), { nil: null }), (field, v) => {
        fc.pre(v !== row()[field]);
        const changed = { ...row(), [field]: v } as CanonicalAuditRow;
        expect(keyedChainHash(key, prev, changed).equals(keyedChainHash(key, prev, row()))).toBe(false);
      }),
    );
  });
});
