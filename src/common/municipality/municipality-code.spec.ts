import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { municipalityCheckDigit, normalizeMunicipalityCode } from './municipality-code.js';

describe('JIS X 0402 municipality codes', () => {
  it.each([
    ['131016', '13101'], // Chiyoda-ku, Tokyo
    ['011002', '01100'], // Sapporo
    ['271004', '27100'], // Osaka
    ['472018', '47201'], // Naha
    ['13101', '13101'],
  ])('accepts %s as %s', (code, five) => {
    expect(normalizeMunicipalityCode(code)).toBe(five);
  });

  it.each(['131017', '13101x', '1310', '1310166', '481000', '00100', '', 131016])('refuses %p', (code) => {
    expect(normalizeMunicipalityCode(code)).toBeNull();
  });

  it('accepts exactly one check digit for every five-digit code', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 47 }), fc.integer({ min: 0, max: 999 }), (prefecture, town) => {
        const five = `${String(prefecture).padStart(2, '0')}${String(town).padStart(3, '0')}`;
        const accepted = [...'0123456789'].filter((d) => normalizeMunicipalityCode(five + d) !== null);
        expect(accepted).toEqual([String(municipalityCheckDigit(five))]);
      }),
    );
  });
});
