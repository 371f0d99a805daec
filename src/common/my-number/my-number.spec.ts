import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { containsMyNumberLike, isValidMyNumber, maskMyNumber, myNumberCheckDigit } from './my-number.js';

/** An independent formulation: weights read left to right, 6 5 4 3 2 7 6 5 4 3 2. */
function referenceCheckDigit(first11: string): number {
  const weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  const sum = [...first11].reduce((acc, digit, i) => acc + Number(digit) * weights[i], 0);
  const remainder = sum % 11;
  return remainder <= 1 ? 0 : 11 - remainder;
}

const elevenDigits = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 11, maxLength: 11 });

describe('My Number check digit', () => {
  it('accepts the published examples', () => {
    expect(isValidMyNumber('123456789018')).toBe(true);
    expect(isValidMyNumber('621498320257')).toBe(true);
  });

  it('agrees with an independent formulation for every 11-digit prefix', () => {
    fc.assert(
      fc.property(elevenDigits, (prefix) => {
        expect(myNumberCheckDigit(prefix)).toBe(referenceCheckDigit(prefix));
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts exactly one check digit per prefix', () => {
    fc.assert(
      fc.property(elevenDigits, (prefix) => {
        const valid = [...'0123456789'].filter((d) => isValidMyNumber(prefix + d));
        expect(valid).toEqual([String(referenceCheckDigit(prefix))]);
      }),
    );
  });

  it('detects every single-digit substitution', () => {
    fc.assert(
      fc.property(elevenDigits, fc.integer({ min: 0, max: 11 }), fc.integer({ min: 1, max: 9 }), (prefix, pos, delta) => {
        const number = prefix + String(referenceCheckDigit(prefix));
        const altered = number.slice(0, pos) + String((Number(number[pos]) + delta) % 10) + number.slice(pos + 1);
        // A check digit mod 11 reduced to one digit misses some substitutions where
        // r ≤ 1 folds two remainders onto 0; only assert on those it can see.
        const alteredPrefixDigit = referenceCheckDigit(altered.slice(0, 11));
        const foldsToSame = alteredPrefixDigit === Number(altered[11]);
        expect(isValidMyNumber(altered)).toBe(foldsToSame);
      }),
    );
  });

  it('refuses anything that is not twelve ASCII digits', () => {
    for (const value of ['12345678901', '1234567890188', '12345678901a', '１２３４５６７８９０１８', ' 123456789018', 123456789018, null, undefined, '']) {
      expect(isValidMyNumber(value)).toBe(false);
    }
  });
});

describe('maskMyNumber', () => {
  it('shows the last four digits only', () => {
    expect(maskMyNumber('123456789018')).toBe('********9018');
  });
});

describe('containsMyNumberLike', () => {
  it('finds a twelve-digit run but not longer or shorter ones', () => {
    expect(containsMyNumberLike('x 123456789018 y')).toBe(true);
    expect(containsMyNumberLike('ts=1764150000000')).toBe(false);
    expect(containsMyNumberLike('12345678901')).toBe(false);
    expect(containsMyNumberLike('123456789018')).toBe(true);
    expect(containsMyNumberLike('123456789018')).toBe(true);
  });
});
