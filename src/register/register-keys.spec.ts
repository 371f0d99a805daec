import { addressKey, nameKey } from './register-keys.js';

describe('nameKey', () => {
  it('folds full-width and half-width kana and drops spaces', () => {
    expect(nameKey('ヤマダ　タロウ')).toBe('ﾔﾏﾀﾞﾀﾛｳ');
    expect(nameKey('ﾔﾏﾀﾞ ﾀﾛｳ')).toBe('ﾔﾏﾀﾞﾀﾛｳ');
    expect(nameKey('ヤマダタロウ')).toBe(nameKey('ﾔﾏﾀﾞ ﾀﾛｳ'));
  });

  it('enlarges small kana as Zengin does', () => {
    expect(nameKey('キョウコ')).toBe(nameKey('キヨウコ'));
  });

  it('refuses what is not a kana name', () => {
    expect(nameKey('山田太郎')).toBeNull();
    expect(nameKey('やまだ')).toBeNull();
  });
});

describe('addressKey', () => {
  const same = (a: string, b: string) => expect(addressKey(a)).toBe(addressKey(b));

  it('treats 丁目/番/号, hyphens and full-width digits alike', () => {
    same('東京都千代田区霞が関1丁目2番3号', '東京都千代田区霞が関1-2-3');
    same('東京都千代田区霞が関１－２－３', '東京都千代田区霞が関1-2-3');
    same('千代田区霞が関一丁目二番三号', '千代田区霞が関1-2-3');
    same('大阪市北区梅田3丁目1番地の5', '大阪市北区梅田3-1-5');
    same('札幌市中央区北1条西2丁目', '札幌市中央区北1条西2');
  });

  it('ignores spaces, a leading prefecture and ヶ/が/ケ variants', () => {
    same('東京都 千代田区　霞ヶ関 1-2-3', '千代田区霞が関1-2-3');
    same('千代田区霞ケ関1-2-3', '千代田区霞が関1-2-3');
  });

  it('reads kanji numerals with 十', () => {
    expect(addressKey('港区芝十二丁目二十番')).toBe('港区芝12-20');
  });

  it('keeps long vowels inside words and the building as written', () => {
    expect(addressKey('横浜市西区みなとみらい2-3-1 センタービル101')).toBe('横浜市西区みなとみらい2-3-1センタービル101');
  });

  it('keeps different addresses apart', () => {
    expect(addressKey('千代田区霞が関1-2-3')).not.toBe(addressKey('千代田区霞が関1-2-4'));
    expect(addressKey('千代田区霞が関1-2-3')).not.toBe(addressKey('中央区霞が関1-2-3'));
  });
});
