import { myNumberCheckDigit } from '../../../src/common/my-number/my-number.js';

/** A valid My Number built from a seed, so each test uses its own. */
export function validMyNumber(seed: number): string {
  const first11 = String(seed).padStart(11, '0').slice(-11);
  return first11 + String(myNumberCheckDigit(first11));
}

/** Twelve digits with a wrong check digit. */
export function invalidMyNumber(seed: number): string {
  const valid = validMyNumber(seed);
  return valid.slice(0, 11) + String((Number(valid[11]) + 1) % 10);
}
