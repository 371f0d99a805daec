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

const FULL_WIDTH_ZERO = 0xff10;
const fullWidth = (digits: string) => [...digits].map((d) => String.fromCharCode(FULL_WIDTH_ZERO + Number(d))).join('');
const groups = (n: string, separator: string) => [n.slice(0, 4), n.slice(4, 8), n.slice(8)].join(separator);

/** The ways people type a number: [how, typed]. The first ones are ASCII (they fit a header). */
export function spellings(n: string): Array<[string, string]> {
  return [
    ['hyphens', groups(n, '-')],
    ['spaces', groups(n, ' ')],
    ['spaced hyphens', groups(n, ' - ')],
    ['full-width digits', fullWidth(n)],
    ['full-width digits and hyphens', groups(fullWidth(n), '－')],
    ['ideographic spaces', groups(fullWidth(n), '\u3000')],
    ['katakana prolonged sound marks', groups(n, 'ー')],
    ['U+2010 hyphens', groups(n, '‐')],
    ['minus signs', groups(n, '−')],
  ];
}

/**
 * `text` with what hides a number undone: percent escapes decoded, NFKC, separators
 * between digits removed. A number sent in any spelling shows in the result as its
 * twelve ASCII digits.
 */
export function inClearForm(text: string): string {
  const decoded = text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (escapes) => {
    try {
      return decodeURIComponent(escapes);
    } catch {
      return escapes;
    }
  });
  return decoded.normalize('NFKC').replace(/(?<=[0-9])[\s\-‐‑‒–—―−ー]{1,3}(?=[0-9])/gu, '');
}
