/**
 * The individual number (マイナンバー): 12 digits, the last a check digit.
 * With P1..P11 the first eleven digits counted from the right,
 * Qn = n+1 for n ≤ 6 and n−5 for n ≥ 7, r = Σ Pn·Qn mod 11,
 * check = 0 if r ≤ 1, else 11 − r.
 */
export const MY_NUMBER_LENGTH = 12;

const TWELVE_DIGITS = /^[0-9]{12}$/;

/** The check digit for the first eleven digits (a string of 11 ASCII digits). */
export function myNumberCheckDigit(first11: string): number {
  let sum = 0;
  for (let n = 1; n <= 11; n++) {
    const p = first11.charCodeAt(11 - n) - 48;
    const q = n <= 6 ? n + 1 : n - 5;
    sum += p * q;
  }
  const r = sum % 11;
  return r <= 1 ? 0 : 11 - r;
}

export function isValidMyNumber(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    TWELVE_DIGITS.test(value) &&
    myNumberCheckDigit(value.slice(0, 11)) === value.charCodeAt(11) - 48
  );
}

/** What responses show of a number: its last four digits. */
export function maskMyNumber(myNumber: string): string {
  return '*'.repeat(MY_NUMBER_LENGTH - 4) + myNumber.slice(-4);
}

/**
 * A run of exactly twelve digits, not part of a longer run: what redaction removes
 * from free text and what free-text fields refuse.
 */
export const MY_NUMBER_LIKE = /(?<![0-9])[0-9]{12}(?![0-9])/g;

export function containsMyNumberLike(text: string): boolean {
  MY_NUMBER_LIKE.lastIndex = 0;
  return MY_NUMBER_LIKE.test(text);
}
