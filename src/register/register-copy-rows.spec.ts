import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BinaryCopyWriter, pgDate } from './copy-binary.js';
import { RegisterCopyRows } from './register-copy-rows.js';
import { CsvSplitter, type CsvSink } from './register-parser.js';
import { accountKeyOf, CSV_HEADER, isRowError, validateRow } from './register-row.js';

/** Binary COPY data → tuples of fields (bytes, or null), checking the framing. */
function tuples(data: Buffer): (Buffer | null)[][] {
  expect(data.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
  let p = 19;
  const out: (Buffer | null)[][] = [];
  for (;;) {
    const count = data.readInt16BE(p);
    p += 2;
    if (count === -1) break;
    const fields: (Buffer | null)[] = [];
    for (let i = 0; i < count; i++) {
      const length = data.readInt32BE(p);
      p += 4;
      fields.push(length === -1 ? null : data.subarray(p, p + length));
      if (length > 0) p += length;
    }
    out.push(fields);
  }
  expect(p).toBe(data.length);
  return out;
}

/**
 * The data written for one CSV line by the fast path (null if it declined) and by the
 * reference (the line split, validateRow, fromRow; null if the row is invalid).
 */
function bothPaths(csvLine: string, closedAt: bigint | null): { fast: Buffer | null; reference: Buffer | null } {
  const bytes = Buffer.from(csvLine);
  const fastWriter = new BinaryCopyWriter(64);
  const fast = new RegisterCopyRows(fastWriter, closedAt).fromLine(bytes, 0, bytes.length, 2) ? fastWriter.take() : null;
  // Declining writes nothing.
  if (fast === null) expect(fastWriter.length).toBe(0);
  let reference: Buffer | null = null;
  const splitter = new CsvSplitter();
  const sink: CsvSink = {
    line: () => false,
    record: (record) => {
      const row = validateRow(record.fields());
      if (isRowError(row)) return;
      const writer = new BinaryCopyWriter(64);
      new RegisterCopyRows(writer, closedAt).fromRow(record.line, row);
      reference = writer.take();
    },
    error: () => undefined,
  };
  splitter.push(Buffer.from(`${CSV_HEADER}\n${csvLine}\n`), sink);
  splitter.end(sink);
  return { fast, reference };
}

const GOOD = 'C-1,001,ordinary,0012345,ヤマダ タロウ,1980-04-01,100-0013,"東京都千代田区霞が関1丁目2番3号, 101号室",open';
const CLOSED_AT = 848_000_000_000_000n;

describe('RegisterCopyRows', () => {
  it('writes a first load\'s tuple: codes, Zengin name and key, day number, postal code, closed_at', () => {
    const writer = new BinaryCopyWriter(64);
    writer.header();
    const rows = new RegisterCopyRows(writer, CLOSED_AT);
    for (const [i, line] of [GOOD, GOOD.replace('0012345', '0012346').replace(',open', ',closed').replace('100-0013', '')].entries()) {
      const bytes = Buffer.from(line);
      expect(rows.fromLine(bytes, 0, bytes.length, i + 2)).toBe(true);
    }
    writer.trailer();
    const [open, closed] = tuples(writer.take());
    const text = (b: Buffer | null) => b?.toString('utf8') ?? null;
    expect(open[0]!.readInt32BE(0)).toBe(2);
    expect(closed[0]!.readInt32BE(0)).toBe(3);
    expect(open.slice(1, 7).map(text)).toEqual(['001', 'ordinary', '0012345', 'C-1', 'ﾔﾏﾀﾞ ﾀﾛｳ', 'ﾔﾏﾀﾞﾀﾛｳ']);
    expect(open[7]!.readInt32BE(0)).toBe(pgDate(1980, 4, 1));
    expect(open.slice(8, 11).map(text)).toEqual(['1000013', '東京都千代田区霞が関1丁目2番3号, 101号室', 'open']);
    expect(open[11]).toBeNull();
    expect(closed[8]).toBeNull();
    expect(text(closed[10])).toBe('closed');
    expect(closed[11]!.readBigInt64BE(0)).toBe(CLOSED_AT);
  });

  it('writes a staging tuple, and a rejected row\'s account key only', () => {
    const writer = new BinaryCopyWriter(64);
    writer.header();
    const rows = new RegisterCopyRows(writer, null);
    const fields = GOOD.replace(/"[^"]*"/, 'x').split(',');
    rows.fromRow(3, validateRow(fields) as never);
    const bad = [...fields];
    bad[4] = 'やまだ';
    expect(isRowError(validateRow(bad))).toBe(true);
    rows.rejected(4, accountKeyOf(bad)!);
    writer.trailer();
    const [staged, rejected] = tuples(writer.take());
    expect(staged).toHaveLength(12);
    expect(staged[4]).toEqual(Buffer.from([0]));
    expect(rejected.slice(1, 5)).toEqual([Buffer.from('001'), Buffer.from('ordinary'), Buffer.from('0012345'), Buffer.from([1])]);
    expect(rejected.slice(5)).toEqual(Array(7).fill(null));
    expect(accountKeyOf(['C1', '1', 'ordinary', '0012345', 'ﾔ', '1980-01-01', '', 'x', 'open'])).toBeNull();
  });

  it('takes the common row on the fast path, and writes exactly what the reference writes', () => {
    for (const closedAt of [null, CLOSED_AT]) {
      for (const line of [GOOD, GOOD.replace('1980-04-01', '19800401').replace(',ordinary,', ',4,'), GOOD.replace('ヤマダ タロウ', 'ｶﾞｯｺｳ  ﾀﾛｳ ')]) {
        const { fast, reference } = bothPaths(line, closedAt);
        expect(fast).not.toBeNull();
        expect(fast).toEqual(reference);
      }
    }
  });

  it('declines what the reference rejects, and agrees on everything it takes (generated rows)', () => {
    const nameChar = fc.constantFrom(
      ...'アガパッーヴヵヶｱｶﾞﾊﾟﾞﾟｯｰ･・ 　ABCabc019().-/,ａＡ０－―‐−゛゜\u3099\u309Aやま漢ヷ@#ｦヲヰ'.split(''),
      '\u{1F600}',
    );
    const addressChar = fc.constantFrom(...'東京都1丁目 　,-\\"ｱａ\t\x7f'.split(''), 'é', '\u{1F600}');
    const field = (chars: fc.Arbitrary<string>, max: number) => fc.array(chars, { maxLength: max }).map((a) => a.join(''));
    const csvField = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    // Mostly valid values, so that most rows reach the fast path's writing too.
    const mostly = (valid: string[], invalid: string[]) =>
      fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 6 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
    const row = fc.tuple(
      mostly(['C-1', 'c9', 'x'.repeat(20)], ['', 'x'.repeat(21), 'C_1']),
      mostly(['001'], ['01', '00a']),
      mostly(['ordinary', 'current', 'savings', 'other', '1', '2', '4', '9'], ['3', 'Ordinary']),
      mostly(['0012345'], ['012345', '001234a']),
      fc.oneof(
        { arbitrary: field(fc.constantFrom(...'アガパッヴヵヶｱｶﾞﾊﾟｯ ーABC019'.split('')), 30), weight: 3 },
        field(nameChar, 30),
        // Around the limit of 48 characters (ガ is two: ｶﾞ).
        fc.tuple(fc.integer({ min: 23, max: 50 }), fc.constantFrom('ア', 'ガ', 'ｱ ')).map(([n, ch]) => ch.repeat(n)),
      ),
      mostly(['1980-04-01', '19000101', '2024-02-29'], ['1899-12-31', '2023-02-29', '2100-01-01', '1980-4-01', '19801301']),
      mostly(['', '1000013', '100-0013'], ['100 0013', '10000131']),
      fc.oneof(
        { arbitrary: field(fc.constantFrom(...'東京都1丁目 ,-ｱａ'.split('')), 60), weight: 3 },
        field(addressChar, 60),
        // Around the limit of 200 characters (code points).
        fc.tuple(fc.integer({ min: 198, max: 202 }), fc.constantFrom('都', 'a', '\u{1F600}')).map(([n, ch]) => ch.repeat(n)),
      ),
      mostly(['open', 'closed'], ['Open', '']),
    );
    // Sometimes a field too many or too few.
    const rowOfAnyWidth = fc.tuple(row, fc.constantFrom(0, 0, 0, 0, 1, -1)).map(([fields, extra]) =>
      extra === 0 ? fields : extra > 0 ? [...fields, 'open'] : fields.slice(0, 8),
    );
    let fastRows = 0;
    let validRows = 0;
    fc.assert(
      fc.property(rowOfAnyWidth, fc.boolean(), (fields, first) => {
        const { fast, reference } = bothPaths(fields.map(csvField).join(','), first ? CLOSED_AT : null);
        if (reference !== null) validRows++;
        if (fast === null) return;
        fastRows++;
        expect(fast).toEqual(reference);
      }),
      { numRuns: 5000 },
    );
    // The fast path took most valid rows (it declines only unusual characters).
    expect(fastRows).toBeGreaterThan(validRows * 0.6);
    expect(validRows).toBeGreaterThan(300);
  });

  it('counts days from 2000-01-01 for any date', () => {
    for (const [y, m, d] of [
      [2000, 1, 1],
      [1999, 12, 31],
      [1900, 3, 1],
      [2024, 2, 29],
      [1930, 7, 15],
    ]) {
      expect(pgDate(y, m, d)).toBe((Date.UTC(y, m - 1, d) - Date.UTC(2000, 0, 1)) / 86_400_000);
    }
  });
});
