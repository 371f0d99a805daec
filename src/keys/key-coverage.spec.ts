import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { generateNodeKeyMaterial, KeyMaterialError, type KeyMaterial } from '../crypto/key-material.js';
import { assertKeysCoverData } from './key-coverage.js';

const keys = (versions: number[], masters: string[]): KeyMaterial => ({
  masterKeys: new Map(masters.map((id) => [id, randomBytes(32)])),
  activeMasterKeyId: masters[0],
  blindIndexKeys: new Map(versions.map((v) => [v, randomBytes(32)])),
  activeBlindIndexVersion: versions[0],
  node: generateNodeKeyMaterial('n'),
  generated: false,
});

/** Answers the three questions the check asks, from what "the database" holds. */
function database(held: { subjects: number[]; inquiries: number[]; masters: string[]; inquiryCount?: number }) {
  return {
    query: async (sql: string): Promise<any> => {
      if (sql.includes('FROM subjects')) return held.subjects.map((version) => ({ version }));
      if (sql.includes('data_keys')) return held.masters.map((id) => ({ id }));
      if (sql.includes('count(*)')) return [{ count: String(held.inquiryCount ?? 1) }];
      return held.inquiries.map((version) => ({ version }));
    },
  };
}

describe('assertKeysCoverData', () => {
  it('passes when every version and master key in use is held', async () => {
    const warnings: string[] = [];
    await assertKeysCoverData(database({ subjects: [1, 2], inquiries: [1, 2], masters: ['m1'] }), keys([2, 1], ['m1']), (m) => warnings.push(m));
    expect(warnings).toEqual([]);
  });

  it('refuses subjects under a blind-index version not held', async () => {
    await expect(
      assertKeysCoverData(database({ subjects: [1, 2], inquiries: [], masters: ['m1'] }), keys([2], ['m1']), () => undefined),
    ).rejects.toThrow(KeyMaterialError);
  });

  it('refuses data keys or webhook secrets under a master key not held', async () => {
    await expect(
      assertKeysCoverData(database({ subjects: [2], inquiries: [], masters: ['m1', 'm2'] }), keys([2], ['m2']), () => undefined),
    ).rejects.toThrow(/master key\(s\) "m1"/);
  });

  it('only warns, with the count, for inquiries under a version not held', async () => {
    const warnings: string[] = [];
    await assertKeysCoverData(
      database({ subjects: [2], inquiries: [1, 2], masters: ['m2'], inquiryCount: 7 }),
      keys([2], ['m2']),
      (m) => warnings.push(m),
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^7 inquiries are indexed under blind-index version 1/);
  });
});
