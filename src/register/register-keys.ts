import { normalizeKanaName } from '../common/kana/kana-name.js';

/**
 * The forms in which a depositor's name and address are compared when the register is
 * matched (numbering requests, `accounts: "all"`). Both sides of a comparison go
 * through the same function, so a fold only has to be consistent, not reversible.
 */

/**
 * The name as matching compares it: the Zengin half-width form without spaces (the
 * space between family and given name is entered inconsistently), or null when the
 * input is not a kana name.
 */
export function nameKey(nameKana: string): string | null {
  const normalized = normalizeKanaName(nameKana);
  return normalized === null ? null : normalized.replace(/ /g, '');
}

const PREFECTURES = [
  '北海道', '青森県', '岩手県', '宮城県', '秋田県', '山形県', '福島県', '茨城県', '栃木県', '群馬県',
  '埼玉県', '千葉県', '東京都', '神奈川県', '新潟県', '富山県', '石川県', '福井県', '山梨県', '長野県',
  '岐阜県', '静岡県', '愛知県', '三重県', '滋賀県', '京都府', '大阪府', '兵庫県', '奈良県', '和歌山県',
  '鳥取県', '島根県', '岡山県', '広島県', '山口県', '徳島県', '香川県', '愛媛県', '高知県', '福岡県',
  '佐賀県', '長崎県', '熊本県', '大分県', '宮崎県', '鹿児島県', '沖縄県',
];
const LEADING_PREFECTURE = new RegExp(`^(?:${PREFECTURES.join('|')})`);

const KANJI_DIGITS: Record<string, number> = { 〇: 0, 一: 1, 二: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };

/** 一 → 1, 十二 → 12, 二十 → 20, 百五 → 105, 二〇 → 20 (kanji numerals as in addresses). */
function kanjiToNumber(kanji: string): string {
  if (!/[十百]/.test(kanji)) return [...kanji].map((ch) => KANJI_DIGITS[ch]).join('');
  let total = 0;
  let digit = 0;
  for (const ch of kanji) {
    if (ch === '百') {
      total += (digit || 1) * 100;
      digit = 0;
    } else if (ch === '十') {
      total += (digit || 1) * 10;
      digit = 0;
    } else {
      digit = KANJI_DIGITS[ch];
    }
  }
  return String(total + digit);
}

/** Dashes, minus signs and long-vowel marks that stand for a hyphen after a digit. */
const DASH_AFTER_DIGIT = /(?<=\d)[\u2010-\u2015\u2212\u2500\u2501\u30FC\uFF70~〜]/g;

/**
 * The address as matching compares it. Folded, in this order:
 * - width (NFKC: full-width digits and letters, half-width katakana) and case;
 * - every space removed;
 * - a leading prefecture name removed (often omitted);
 * - kanji numerals before 丁目, 番, 番地 and 号 become digits;
 * - 丁目, 番地, 番 and の between numbers become '-', a final 号 goes, and every dash,
 *   minus or long-vowel mark after a digit is '-' (so 1丁目2番3号, 1-2-3, １－２－３
 *   are one key);
 * - ヶ, ケ, ヵ, が and ガ between kanji are ケ (霞ヶ関, 霞が関, 霞ケ関).
 * The building name and room stay as written.
 */
export function addressKey(address: string): string {
  let key = address.normalize('NFKC').toUpperCase().replace(/\s+/gu, '');
  key = key.replace(LEADING_PREFECTURE, '');
  key = key.replace(/([〇一二三四五六七八九十百]+)(?=丁目|番地|番|号)/g, (kanji) => kanjiToNumber(kanji));
  key = key
    .replace(DASH_AFTER_DIGIT, '-')
    .replace(/(\d)(?:丁目|番地|番)(?:の)?(?=\d)/g, '$1-')
    .replace(/(\d)(?:丁目|番地|番)$/g, '$1')
    .replace(/(\d)の(?=\d)/g, '$1-')
    .replace(/(\d)号/g, '$1')
    .replace(/-{2,}/g, '-')
    .replace(/-$/, '');
  key = key.replace(/(?<=\p{Script=Han})[ヶケヵがガ](?=\p{Script=Han})/gu, 'ケ');
  return key;
}
