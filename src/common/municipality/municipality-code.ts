/**
 * JIS X 0402 municipality codes: five digits (prefecture, municipality) and, in the
 * six-digit form, a check digit: with weights 6,5,4,3,2 over the five digits,
 * r = Σ mod 11 and check = (11 − r) mod 10 (so r = 0 gives 1 and r = 1 gives 0).
 * Chiyoda-ku is 13101 / 131016.
 */
const FIVE = /^[0-9]{5}$/;
const SIX = /^[0-9]{6}$/;
const WEIGHTS = [6, 5, 4, 3, 2];

export function municipalityCheckDigit(fiveDigits: string): number {
  const sum = WEIGHTS.reduce((acc, weight, i) => acc + weight * (fiveDigits.charCodeAt(i) - 48), 0);
  return (11 - (sum % 11)) % 10;
}

/**
 * The five-digit form of a valid code, or null. Prefectures run from 01 to 47;
 * a six-digit code must carry its check digit.
 */
export function normalizeMunicipalityCode(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  let five: string;
  if (FIVE.test(value)) five = value;
  else if (SIX.test(value) && municipalityCheckDigit(value.slice(0, 5)) === value.charCodeAt(5) - 48) five = value.slice(0, 5);
  else return null;
  const prefecture = Number(five.slice(0, 2));
  return prefecture >= 1 && prefecture <= 47 ? five : null;
}
