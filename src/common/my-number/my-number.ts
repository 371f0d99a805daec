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
 * The characters that NFKC folds to one ASCII digit: 0-9 and, among others, the
 * full-width digits (０-９), super- and subscripts, circled ①-⑨ and the mathematical
 * digits. Listed rather than computed at load (scanning every code point costs a
 * quarter of a second per process); my-number.spec.ts recomputes the set from
 * String.prototype.normalize and fails if the two differ (a newer Unicode in Node:
 * paste the set the spec prints).
 */
export const DIGIT_CLASS =
  '0-9\\u00B2\\u00B3\\u00B9\\u2070\\u2074-\\u2079\\u2080-\\u2089\\u2460-\\u2468\\u24EA\\uFF10-\\uFF19' +
  '\\u{1CCF0}-\\u{1CCF9}\\u{1D7CE}-\\u{1D7FF}\\u{1FBF0}-\\u{1FBF9}';

/**
 * The characters that people put between the groups of a number they type, as NFKC
 * folds them: white space (the ideographic space too), the dashes and hyphens
 * (\p{Pd}: ‐ ‑ ‒ – — ―, full-width －, small ﹣ ...) but not the wave dashes 〜 〰
 * that write ranges, the minus sign −, the katakana prolonged sound mark ー (and its
 * half-width ｰ) that Japanese input methods give for a hyphen, and the invisible
 * soft hyphen and zero-width characters a paste carries. Checked like DIGIT_CLASS.
 */
export const SEPARATOR_CLASS =
  '\\u0009-\\u000D\\u0020\\u002D\\u00A0\\u00AD\\u058A\\u05BE\\u1400\\u1680\\u1806\\u2000-\\u200D\\u2010-\\u2015' +
  '\\u2028\\u2029\\u202F\\u205F\\u2060\\u207B\\u208B\\u2212\\u2E17\\u2E1A\\u2E3A\\u2E3B\\u2E40\\u2E5D\\u3000\\u30A0' +
  '\\u30FC\\uFE31\\uFE32\\uFE58\\uFE63\\uFEFF\\uFF0D\\uFF70\\u{10D6E}\\u{10EAD}';

/** At most this many separators between two digits of one number ("1234 - 5678 - 9018"). */
export const MAX_SEPARATOR_RUN = 3;

const D = `[${DIGIT_CLASS}]`;
const GAP = `[${SEPARATOR_CLASS}]{0,${MAX_SEPARATOR_RUN}}`;

/**
 * A number of exactly twelve digits in any spelling people type: what redaction
 * removes from free text and logs, and what free-text fields refuse. Matched on the
 * text as it is (so that redaction replaces the original characters, and no line pays
 * for a normalisation), it finds what NFKC and then stripping the separators would
 * show as twelve digits: a digit, then eleven more each after at most
 * MAX_SEPARATOR_RUN separators, starting and ending at the edge of a group of digits
 * (no digit right before or after). So `1234-5678-9018`, `１２３４ ５６７８ ９０１８`
 * and `1234ー5678ー9018` are found, and so is the number in `1-2-3 1234 5678 9018`:
 * stripping every separator of that text first would glue the address to the number
 * (fifteen digits, nothing found), so the groups around a number do not hide it.
 * `1764150000000` (thirteen digits in one group) is not found, as before.
 *
 * Any twelve digits, valid check digit or not: a mistyped number is still (nearly)
 * someone's number, and it keeps the rule what it was for the plain form. The price:
 * twelve digits in consecutive groups are found whatever they are (`+81-90-1234-5678`,
 * three groups of a card number, `2026-04-01-0001`; see the spec), except inside a UUID
 * (containsMyNumberLike and redactMyNumbers skip those: see insideUuid).
 *
 * Digits and separators are disjoint classes, so the pattern cannot backtrack
 * catastrophically: it runs in linear time on any input.
 */
export const MY_NUMBER_LIKE = new RegExp(`(?<!${D})${D}(?:${GAP}${D}){11}(?!${D})`, 'gu');

/**
 * Twelve ASCII digits in a row, not part of a longer run: the rule for the ids that
 * machines make and peers send (message ids: a random UUID's hyphenated groups must
 * not be read as a typed number, or one in a few hundred would be refused).
 */
const TWELVE_DIGIT_RUN = /(?<![0-9])[0-9]{12}(?![0-9])/;

export function containsTwelveDigitRun(text: string): boolean {
  return TWELVE_DIGIT_RUN.test(text);
}

/** A UUID as machines write them (any version), hex in either case. */
const UUID = /[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}/g;

/**
 * Whether the match at [start, end) is only a UUID's hyphenated groups read as a chain:
 * it lies inside a UUID and spans one of its hyphens. (About one random UUID in a few
 * hundred holds such a chain, and a request or rotation id redacted in a log line can no
 * longer be followed.) A UUID whose last group is twelve digits is still found: that
 * group is one run, not a chain, and a number may be hidden there.
 */
function insideUuid(text: string, start: number, end: number): boolean {
  if (!text.slice(start, end).includes('-')) return false;
  UUID.lastIndex = 0;
  for (let m = UUID.exec(text); m; m = UUID.exec(text)) {
    if (m.index <= start && end <= m.index + m[0].length) return true;
    if (m.index > start) return false;
  }
  return false;
}

export function containsMyNumberLike(text: string): boolean {
  MY_NUMBER_LIKE.lastIndex = 0;
  for (let m = MY_NUMBER_LIKE.exec(text); m; m = MY_NUMBER_LIKE.exec(text)) {
    if (!insideUuid(text, m.index, m.index + m[0].length)) return true;
  }
  return false;
}

/**
 * `text` as a URL decodes: percent escapes decoded (each run of them that is UTF-8;
 * a malformed one stays as it is), `+` read as a space, as forms send it. A number
 * typed into a URL (a query, a path segment) reaches a field or a log line escaped,
 * where MY_NUMBER_LIKE would not see it: the checks look at this form too.
 */
export function urlDecoded(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  return text.replace(/\+/g, ' ').replace(/(?:%[0-9A-Fa-f]{2})+/g, (escapes) => {
    try {
      return decodeURIComponent(escapes);
    } catch {
      return escapes;
    }
  });
}

/** A number in `text` as it is, or once its URL escapes are decoded (see urlDecoded). */
export function containsMyNumberLikeEscaped(text: string): boolean {
  if (containsMyNumberLike(text)) return true;
  const decoded = urlDecoded(text);
  return decoded !== text && containsMyNumberLike(decoded);
}

/** What stands in for a number that redaction removed. */
export const REDACTED_MY_NUMBER = '[redacted-12-digits]';

/** `text` with every number MY_NUMBER_LIKE finds replaced by REDACTED_MY_NUMBER. */
export function redactMyNumbers(text: string): string {
  MY_NUMBER_LIKE.lastIndex = 0;
  // test() first: most text holds none, and then no copy is made.
  if (!MY_NUMBER_LIKE.test(text)) return text;
  return text.replace(MY_NUMBER_LIKE, (found: string, offset: number) =>
    insideUuid(text, offset, offset + found.length) ? found : REDACTED_MY_NUMBER,
  );
}
