/**
 * Canonical form of a depositor's name in katakana ("nameKana").
 *
 * Branch systems send the name either in full-width katakana ("ヤマダ　タロウ") or in the
 * Zengin (全銀) half-width character set ("ﾔﾏﾀﾞ ﾀﾛｳ"). We store one form only — the Zengin
 * half-width form — because that is what banks compare when matching names (名寄せ), so
 * two spellings of the same name must collapse to the same string.
 *
 * Canonical alphabet: ｦ ｱ-ﾝ ﾞ ﾟ, A-Z, 0-9, space and ( ) . - / ,
 */

/** Zengin name fields are limited; counted in half-width characters, ﾞ/ﾟ each count as one. */
export const MAX_KANA_NAME_LENGTH = 48;

const DAKUTEN = '\uFF9E'; // ﾞ half-width voiced sound mark
const HANDAKUTEN = '\uFF9F'; // ﾟ half-width semi-voiced sound mark

/** Pairs two equally long strings character by character into map entries. */
function zip(from: string, to: string, suffix = ''): Array<[string, string]> {
  const a = [...from];
  const b = [...to];
  if (a.length !== b.length) throw new Error(`kana table mismatch: ${from} / ${to}`);
  return a.map((ch, i) => [ch, b[i] + suffix]);
}

/**
 * Every accepted non-ASCII character → its canonical half-width form. Anything not in
 * here (and not Zengin ASCII, see foldAscii) makes the whole name invalid.
 *
 * Deliberately absent, hence rejected: hiragana (a client error, not to be converted
 * silently), ヷヸヹヺ (Zengin has no voiced ﾜ/ｲ/ｴ/ｦ), the middle dot ・ and the iteration
 * marks ヽヾ (not in the Zengin set).
 */
const KANA_MAP: ReadonlyMap<string, string> = new Map<string, string>([
  // Plain full-width katakana. ヲ keeps its own half-width letter ｦ.
  ...zip(
    'アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン',
    'ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝ',
  ),
  // Zengin has no small kana: they become the large letter. ヰ/ヱ are obsolete and are
  // written ｲ/ｴ.
  ...zip('ァィゥェォッャュョヮヵヶヰヱ', 'ｱｲｳｴｵﾂﾔﾕﾖﾜｶｹｲｴ'),
  // Voiced / semi-voiced kana are split into base letter + mark, as half-width has no
  // precomposed forms (ガ → ｶﾞ, ヴ → ｳﾞ, パ → ﾊﾟ).
  ...zip('ガギグゲゴザジズゼゾダヂヅデドバビブベボヴ', 'ｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎｳ', DAKUTEN),
  ...zip('パピプペポ', 'ﾊﾋﾌﾍﾎ', HANDAKUTEN),
  // Already half-width: letters and marks stay, small letters become large.
  ...zip('ｦｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝﾞﾟ', 'ｦｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝﾞﾟ'),
  ...zip('ｧｨｩｪｫｯｬｭｮ', 'ｱｲｳｴｵﾂﾔﾕﾖ'),
  // Sound marks given separately (decomposed input such as "カ\u3099", or the spacing
  // marks ゛゜). Whether they follow a letter that can take them is checked afterwards.
  ['\u3099', DAKUTEN], // combining voiced mark
  ['\u309B', DAKUTEN], // ゛ spacing voiced mark
  ['\u309A', HANDAKUTEN], // combining semi-voiced mark
  ['\u309C', HANDAKUTEN], // ゜ spacing semi-voiced mark
  // Long-vowel mark and dash look-alikes: Zengin writes the long vowel as '-'.
  ['ー', '-'], // U+30FC
  ['ｰ', '-'], // U+FF70
  ...zip('\u2010\u2011\u2012\u2013\u2014\u2015\u2212', '-------'),
  // Ideographic space; ASCII space is handled with the rest of ASCII.
  ['\u3000', ' '],
  // The middle dot between the parts of a foreign name (ヴァン・デル) is written '.' in Zengin.
  ['・', '.'], // U+30FB
  ['･', '.'], // U+FF65
]);

/** Zengin ASCII allowed in names (after upper-casing). */
const ZENGIN_ASCII = /^[A-Z0-9 ().\-\/,]$/;

/**
 * ASCII and full-width ASCII (Ａ, １, （, －, …) → Zengin ASCII, or null.
 *
 * NFKC is used only for the full-width ASCII block U+FF01–U+FF5E, where it is exactly the
 * width fold. It is not applied to the whole name because there it is wrong for us: it turns
 * half-width katakana into full-width, maps ゛ to "space + combining mark" (so "カ゛" would
 * not become ガ), and silently accepts things we must reject (㍉ → ミリ, ① → 1, ㈱ → (株)).
 */
function foldAscii(ch: string): string | null {
  const code = ch.codePointAt(0)!;
  let c = code >= 0xff01 && code <= 0xff5e ? ch.normalize('NFKC') : ch;
  if (c >= 'a' && c <= 'z') c = c.toUpperCase();
  return ZENGIN_ASCII.test(c) ? c : null;
}

/** At least one kana letter — a "name" of digits/punctuation/Latin only is not a kana name. */
const HAS_KANA_LETTER = /[ｦｱ-ﾝ]/;
/** ﾞ must follow a letter that has a voiced form in Zengin (ｶ-ｺ ｻ-ｿ ﾀ-ﾄ ﾊ-ﾎ ｳ). */
const DAKUTEN_BASE = /[ｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎｳ]/;
/** ﾟ must follow a letter of the ﾊ row. */
const HANDAKUTEN_BASE = /[ﾊﾋﾌﾍﾎ]/;

/** Step 1 of normalizeKanaName for one code point: its canonical form, or null (invalid name). */
export function mapNameChar(ch: string): string | null {
  return KANA_MAP.get(ch) ?? foldAscii(ch);
}

/** Of one canonical character: is it a kana letter (a name needs one)? */
export function isKanaLetter(ch: string): boolean {
  return HAS_KANA_LETTER.test(ch);
}

/** May the sound mark ﾞ or ﾟ follow the canonical character `prev`? */
export function takesSoundMark(mark: string, prev: string): boolean {
  return (mark === DAKUTEN ? DAKUTEN_BASE : HANDAKUTEN_BASE).test(prev);
}

/**
 * Returns the canonical Zengin half-width form of a katakana name, or null if the input
 * is not an acceptable kana name (hiragana, kanji, other symbols, control characters,
 * empty, longer than MAX_KANA_NAME_LENGTH, no kana letter, or a misplaced ﾞ/ﾟ).
 */
export function normalizeKanaName(input: string): string | null {
  // 1. Map character by character (for…of iterates code points, so an emoji is one
  //    unknown character rather than two surrogate halves).
  let mapped = '';
  for (const ch of input) {
    const out = mapNameChar(ch);
    if (out === null) return null;
    mapped += out;
  }

  // 2. Whitespace: only spaces can remain at this point (tabs, newlines etc. were
  //    rejected as control characters); collapse runs and trim.
  const name = mapped.replace(/ {2,}/g, ' ').replace(/^ | $/g, '');

  // 3. Validate the canonical form.
  if (name.length === 0 || name.length > MAX_KANA_NAME_LENGTH) return null;
  if (!HAS_KANA_LETTER.test(name)) return null;
  for (let i = 0; i < name.length; i++) {
    const prev = i > 0 ? name[i - 1] : '';
    if (name[i] === DAKUTEN && !DAKUTEN_BASE.test(prev)) return null;
    if (name[i] === HANDAKUTEN && !HANDAKUTEN_BASE.test(prev)) return null;
  }
  return name;
}

/** True for a string that normalizeKanaName accepts. */
export function isKanaName(input: unknown): boolean {
  return typeof input === 'string' && normalizeKanaName(input) !== null;
}
