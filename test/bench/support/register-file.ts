import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { CSV_HEADER } from '../../../src/register/register-row.js';

/**
 * A realistic register file: full-width katakana names (mostly distinct), kanji addresses of varied
 * length (a third with a comma, hence quoted), most with a postal code, 5% closed,
 * one to three accounts per customer. Deterministic (a small LCG), written streaming.
 */
const FAMILY = ['ヤマダ', 'サトウ', 'スズキ', 'タカハシ', 'タナカ', 'イトウ', 'ワタナベ', 'ナカムラ', 'コバヤシ', 'カトウ', 'ヨシダ', 'ヤマグチ', 'マツモト', 'イノウエ', 'キムラ', 'ハヤシ', 'シミズ', 'ヤマザキ', 'モリ', 'イケダ'];
/** Given names are built from syllables: most full names in the file are distinct, as in a real register. */
const SYLLABLES = ['ア', 'イ', 'カ', 'キ', 'ケ', 'コ', 'サ', 'シ', 'タ', 'チ', 'ト', 'ナ', 'ノ', 'ハ', 'ヒ', 'マ', 'ミ', 'ユ', 'ヨ', 'リ', 'レ', 'ロ', 'ジ', 'ダ', 'ゴ', 'ブ', 'ペ', 'ショウ', 'リョウ', 'キョウ', 'ユウ', 'タロウ', 'コ', 'エ', 'オ', 'ヤ', 'セ', 'ツ', 'ホ', 'ワ'];
const GIVEN = ['タロウ', 'ハナコ', 'イチロウ', 'ユウコ', 'ケンジ', 'ミホ', 'ダイスケ', 'アヤ', 'ショウタ', 'メグミ', 'ヒロシ', 'ヨウコ', 'ツバサ', 'サクラ', 'リョウ', 'ナオミ'];
const CITIES = ['東京都千代田区霞が関', '大阪府大阪市北区梅田', '神奈川県横浜市中区本町', '愛知県名古屋市中区栄', '福岡県福岡市博多区博多駅前', '北海道札幌市中央区北一条西', '宮城県仙台市青葉区一番町', '広島県広島市中区紙屋町'];
const BUILDINGS = ['', '', 'コーポ山田', 'メゾン桜', 'グランドハイツ', 'サンシャインマンション'];
const TYPES = ['ordinary', 'ordinary', 'ordinary', 'savings', 'current', '1', '4'];

export async function writeRegisterCsv(path: string, rows: number, seed = 1): Promise<number> {
  let state = seed >>> 0;
  const next = (n: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
  const out = createWriteStream(path);
  out.write(`${CSV_HEADER}\n`);
  let customer = 0;
  let left = 0;
  let name = '';
  let birth = '';
  let address = '';
  let postal = '';
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    if (left === 0) {
      customer++;
      left = 1 + next(3);
      name =
        next(4) === 0
          ? `${FAMILY[next(FAMILY.length)]} ${GIVEN[next(GIVEN.length)]}`
          : `${FAMILY[next(FAMILY.length)]} ${SYLLABLES[next(40)]}${SYLLABLES[next(40)]}${SYLLABLES[next(40)]}`;
      birth = `${1930 + next(75)}-${String(1 + next(12)).padStart(2, '0')}-${String(1 + next(28)).padStart(2, '0')}`;
      const building = BUILDINGS[next(BUILDINGS.length)];
      const street = `${CITIES[next(CITIES.length)]}${1 + next(9)}丁目${1 + next(30)}番${1 + next(20)}号`;
      address = building
        ? next(3) === 0
          ? `"${street}, ${building} ${100 + next(900)}号室"`
          : `${street} ${building}${100 + next(900)}`
        : street;
      postal = next(10) === 0 ? '' : `${100 + next(900)}-${String(next(10000)).padStart(4, '0')}`;
    }
    left--;
    // Account numbers are unique per branch: the row index spread over 100 branches.
    const branch = String(1 + (i % 100)).padStart(3, '0');
    const number = String(1_000_000 + Math.floor(i / 100)).padStart(7, '0');
    chunk += `C${customer},${branch},${TYPES[next(TYPES.length)]},${number},${name},${birth},${postal},${address},${next(20) === 0 ? 'closed' : 'open'}\n`;
    if (chunk.length > 65536) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return out.bytesWritten;
}
