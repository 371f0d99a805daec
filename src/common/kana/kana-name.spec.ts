import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';

import { MAX_KANA_NAME_LENGTH, isKanaName, normalizeKanaName } from './kana-name.js';

describe('normalizeKanaName', () => {
  describe('full-width and half-width spellings give the same canonical form', () => {
    it.each([
      ['ヤマダ　タロウ', 'ﾔﾏﾀﾞ ﾀﾛｳ', 'ﾔﾏﾀﾞ ﾀﾛｳ'],
      ['ガッコウ　ハナコ', 'ｶﾞｯｺｳ ﾊﾅｺ', 'ｶﾞﾂｺｳ ﾊﾅｺ'],
      ['ヴァン　デル', 'ｳﾞｧﾝ ﾃﾞﾙ', 'ｳﾞｱﾝ ﾃﾞﾙ'],
      ['パク　ジョンミン', 'ﾊﾟｸ ｼﾞｮﾝﾐﾝ', 'ﾊﾟｸ ｼﾞﾖﾝﾐﾝ'],
    ])('%s / %s → %s', (full, half, expected) => {
      expect(normalizeKanaName(full)).toBe(expected);
      expect(normalizeKanaName(half)).toBe(expected);
    });
  });

  it.each([
    ['ァィゥェォ', 'ｱｲｳｴｵ'],
    ['ｧｨｩｪｫ', 'ｱｲｳｴｵ'],
    ['ッ', 'ﾂ'],
    ['ｯ', 'ﾂ'],
    ['ャュョ', 'ﾔﾕﾖ'],
    ['ｬｭｮ', 'ﾔﾕﾖ'],
    ['ヮ', 'ﾜ'],
    ['ヵヶ', 'ｶｹ'],
  ])('small kana become large: %s → %s', (input, expected) => {
    expect(normalizeKanaName(input)).toBe(expected);
  });

  it.each([
    ['ヰ', 'ｲ'],
    ['ヱ', 'ｴ'],
    ['ヲ', 'ｦ'],
    ['ｦ', 'ｦ'],
    ['ン', 'ﾝ'],
  ])('obsolete kana, ヲ and ン: %s → %s', (input, expected) => {
    expect(normalizeKanaName(input)).toBe(expected);
  });

  it.each([
    ['ガギグゲゴ', 'ｶﾞｷﾞｸﾞｹﾞｺﾞ'],
    ['ザジズゼゾ', 'ｻﾞｼﾞｽﾞｾﾞｿﾞ'],
    ['ダヂヅデド', 'ﾀﾞﾁﾞﾂﾞﾃﾞﾄﾞ'],
    ['バビブベボ', 'ﾊﾞﾋﾞﾌﾞﾍﾞﾎﾞ'],
    ['パピプペポ', 'ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ'],
    ['ヴ', 'ｳﾞ'],
  ])('voiced / semi-voiced kana are decomposed: %s → %s', (input, expected) => {
    expect(normalizeKanaName(input)).toBe(expected);
  });

  it.each([
    ['カ\u3099', 'ｶﾞ'], // combining voiced mark
    ['カ\u309B', 'ｶﾞ'], // spacing ゛
    ['ハ\u309A', 'ﾊﾟ'], // combining semi-voiced mark
    ['ハ\u309C', 'ﾊﾟ'], // spacing ゜
    ['ウ\u3099', 'ｳﾞ'],
    ['ヤマダ'.normalize('NFD'), 'ﾔﾏﾀﾞ'],
  ])('separate sound marks are accepted: %j → %s', (input, expected) => {
    expect(normalizeKanaName(input)).toBe(expected);
  });

  it.each(['ー', 'ｰ', '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '－'])(
    'long-vowel mark / dash %j → "-"',
    (dash) => {
      expect(normalizeKanaName(`ス${dash}パ${dash}`)).toBe('ｽ-ﾊﾟ-');
    },
  );

  it('folds Latin letters and digits to upper-case half-width ASCII', () => {
    expect(normalizeKanaName('ＡＢＣ　ショウジ')).toBe('ABC ｼﾖｳｼﾞ');
    expect(normalizeKanaName('ａｂｃ　ｶ')).toBe('ABC ｶ');
    expect(normalizeKanaName('abc ｶ')).toBe('ABC ｶ');
    expect(normalizeKanaName('ダイ１２３ｺｳｼﾞｮｳ')).toBe('ﾀﾞｲ123ｺｳｼﾞﾖｳ');
  });

  it('maps the allowed Zengin punctuation from full-width', () => {
    expect(normalizeKanaName('（カ）ヤマダ')).toBe('(ｶ)ﾔﾏﾀﾞ');
    expect(normalizeKanaName('ヤマダ．タロウ')).toBe('ﾔﾏﾀﾞ.ﾀﾛｳ');
    expect(normalizeKanaName('ヤマダ／タロウ，ハナコ')).toBe('ﾔﾏﾀﾞ/ﾀﾛｳ,ﾊﾅｺ');
    expect(normalizeKanaName('(ｶ)ﾔﾏﾀﾞ.ﾀﾛｳ/ﾊﾅｺ,ｼﾞﾛｳ')).toBe('(ｶ)ﾔﾏﾀﾞ.ﾀﾛｳ/ﾊﾅｺ,ｼﾞﾛｳ');
  });

  it('trims and collapses spaces, incl. the ideographic space', () => {
    expect(normalizeKanaName('　 ヤマダ　　 タロウ 　')).toBe('ﾔﾏﾀﾞ ﾀﾛｳ');
    expect(normalizeKanaName('ﾔﾏﾀﾞ   ﾀﾛｳ')).toBe('ﾔﾏﾀﾞ ﾀﾛｳ');
  });

  it('writes the middle dot of a foreign name as Zengin "."', () => {
    expect(normalizeKanaName('ヴァン・デル')).toBe('ｳﾞｱﾝ.ﾃﾞﾙ');
    expect(normalizeKanaName('ｳﾞｧﾝ･ﾃﾞﾙ')).toBe('ｳﾞｱﾝ.ﾃﾞﾙ');
  });

  describe('rejections', () => {
    it.each([
      ['hiragana', 'やまだ　たろう'],
      ['mixed hiragana', 'ヤマだ'],
      ['kanji', '山田　太郎'],
      ['emoji', 'ヤマダ😀'],
      ['tab (control character)', 'ヤマダ\tタロウ'],
      ['newline', 'ヤマダ\n'],
      ['NUL', 'ヤマダ\u0000'],
      ['other ASCII symbol', 'ヤマダ&タロウ'],
      ['square katakana (NFKC would accept it)', '㍉'],
      ['circled digit', 'ヤマダ①'],
      ['ヷ (no voiced ﾜ in Zengin)', 'ヷ'],
      ['empty', ''],
      ['spaces only', ' 　 '],
      ['digits only', '１２３'],
      ['punctuation only', '(-)'],
      ['Latin only', 'ABC'],
    ])('%s: %j', (_label, input) => {
      expect(normalizeKanaName(input)).toBeNull();
    });

    it.each([
      ['leading ﾞ', 'ﾞｱ'],
      ['ﾞ alone', 'ﾞ'],
      ['ﾞ after a kana without a voiced form', 'ｱﾞ'],
      ['ﾞ after ﾜ', 'ﾜﾞ'],
      ['double ﾞ', 'ｶﾞﾞ'],
      ['ﾟ after a non-ﾊ-row kana', 'ｶﾟ'],
      ['ﾟ after ﾞ', 'ﾊﾞﾟ'],
      ['mark after a space', 'ｶ ﾞ'],
      ['combining mark after ア', 'ア\u3099'],
    ])('stray sound mark — %s: %j', (_label, input) => {
      expect(normalizeKanaName(input)).toBeNull();
    });

    it('rejects names longer than MAX_KANA_NAME_LENGTH, counting ﾞ/ﾟ as characters', () => {
      expect(MAX_KANA_NAME_LENGTH).toBe(48);
      expect(normalizeKanaName('ア'.repeat(48))).toBe('ｱ'.repeat(48));
      expect(normalizeKanaName('ア'.repeat(49))).toBeNull();
      // 24 ガ = 48 half-width characters: fits; 25 do not.
      expect(normalizeKanaName('ガ'.repeat(24))).toBe('ｶﾞ'.repeat(24));
      expect(normalizeKanaName('ガ'.repeat(25))).toBeNull();
      // Length is measured after trimming/collapsing.
      expect(normalizeKanaName(`  ${'ｱ'.repeat(48)}  `)).toBe('ｱ'.repeat(48));
    });
  });
});

describe('isKanaName', () => {
  it('accepts strings that normalise', () => {
    expect(isKanaName('ヤマダ　タロウ')).toBe(true);
    expect(isKanaName('ﾔﾏﾀﾞ ﾀﾛｳ')).toBe(true);
  });

  it.each([['やまだ'], [''], [123], [null], [undefined], [{}], [['ﾔﾏﾀﾞ']]])('rejects %j', (input) => {
    expect(isKanaName(input)).toBe(false);
  });
});

describe('properties', () => {
  /**
   * Katakana "units": [full-width, half-width (as a branch might send it), canonical].
   * Each unit is self-contained (a voiced letter carries its own mark), so any sequence
   * of units is a valid name as long as it contains a letter and fits the length limit.
   */
  const UNITS: ReadonlyArray<readonly [string, string, string]> = [
    ...zip3('アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン',
      'ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝ',
      'ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝ'),
    ...zip3('ァィゥェォッャュョ', 'ｧｨｩｪｫｯｬｭｮ', 'ｱｲｳｴｵﾂﾔﾕﾖ'),
    ...[...'ガギグゲゴザジズゼゾダヂヅデドバビブベボヴ'].map((full, i) => {
      const base = 'ｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎｳ'[i];
      return [full, `${base}ﾞ`, `${base}ﾞ`] as const;
    }),
    ...[...'パピプペポ'].map((full, i) => {
      const base = 'ﾊﾋﾌﾍﾎ'[i];
      return [full, `${base}ﾟ`, `${base}ﾟ`] as const;
    }),
    ['ー', 'ｰ', '-'],
    ['　', ' ', ' '],
  ];

  function zip3(a: string, b: string, c: string): Array<readonly [string, string, string]> {
    const [xs, ys, zs] = [[...a], [...b], [...c]];
    return xs.map((x, i) => [x, ys[i], zs[i]] as const);
  }

  const unitsArb = fc.array(fc.constantFrom(...UNITS), { maxLength: 60 });

  /** Reference model of the expected canonical output for a sequence of units. */
  function expected(units: ReadonlyArray<readonly [string, string, string]>): string | null {
    const name = units.map((u) => u[2]).join('').replace(/ +/g, ' ').trim();
    if (!/[ｦｱ-ﾝ]/.test(name) || name.length > MAX_KANA_NAME_LENGTH) return null;
    return name;
  }

  it('full-width and half-width spellings normalise identically (and as the model says)', () => {
    fc.assert(
      fc.property(unitsArb, (units) => {
        const full = units.map((u) => u[0]).join('');
        const half = units.map((u) => u[1]).join('');
        const want = expected(units);
        expect(normalizeKanaName(full)).toBe(want);
        expect(normalizeKanaName(half)).toBe(want);
        // Decomposed input (カ + U+3099) and the platform's own NFKC width fold agree too.
        expect(normalizeKanaName(full.normalize('NFD'))).toBe(want);
        expect(normalizeKanaName(half.normalize('NFKC'))).toBe(want);
      }),
      { numRuns: 500 },
    );
  });

  /** A mixed alphabet incl. characters that are invalid or only valid in context. */
  const mixedArb = fc
    .array(
      fc.constantFrom(
        ...UNITS.flatMap((u) => [u[0], u[1]]),
        'ヰ', 'ヱ', 'ヮ', 'ヵ', 'ヶ', 'ﾞ', 'ﾟ', '\u3099', '\u309A', '\u309B', '\u309C',
        'A', 'z', 'Ｚ', 'ｑ', '0', '９', '(', '）', '.', '．', '/', '／', ',', '，', '-', '－', '\u2015',
        ' ', '　', 'あ', '山', '\t',
      ),
      { maxLength: 60 },
    )
    .map((chars) => chars.join(''));

  it('is idempotent and yields only canonical characters', () => {
    let accepted = 0;
    fc.assert(
      fc.property(mixedArb, (input) => {
        const once = normalizeKanaName(input);
        if (once === null) return;
        accepted++;
        expect(normalizeKanaName(once)).toBe(once);
        expect(once).toMatch(/^[ｦｱ-ﾝﾞﾟA-Z0-9 ().\-/,]+$/);
        expect(once.length).toBeLessThanOrEqual(MAX_KANA_NAME_LENGTH);
        expect(once).toBe(once.trim());
        expect(once).not.toMatch(/ {2}/);
      }),
      { numRuns: 1000 },
    );
    // Guard against a generator that only ever produces rejected strings.
    expect(accepted).toBeGreaterThan(50);
  });

  it('is idempotent on arbitrary strings too', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (input) => {
        const once = normalizeKanaName(input);
        if (once !== null) expect(normalizeKanaName(once)).toBe(once);
      }),
    );
  });
});
