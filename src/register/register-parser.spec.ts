import { describe, expect, it } from '@jest/globals';
import iconv from 'iconv-lite';
import fc from 'fast-check';
import { CsvSplitter, detectEncoding, NdjsonSplitter, RefusedFile, sniffRefusal, type CsvSink, type ParsedRecord } from './register-parser.js';
import { CSV_HEADER } from './register-row.js';

/** A sink collecting CSV records as strings. */
function collect(out: ParsedRecord[]): CsvSink {
  return {
    line: () => false,
    record: (record) => out.push({ line: record.line, fields: record.fields() }),
    error: (line, reason) => out.push({ line, error: { reason } }),
  };
}

/**
 * Splits text fed in pieces of `size` bytes for CSV (chunk boundaries anywhere, inside
 * characters too) or characters for NDJSON.
 */
function split(text: string, size?: number, kind: 'csv' | 'ndjson' = 'csv'): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  if (kind === 'csv') {
    const bytes = Buffer.from(text);
    const step = size ?? (bytes.length || 1);
    const splitter = new CsvSplitter();
    const sink = collect(out);
    for (let i = 0; i < bytes.length; i += step) splitter.push(bytes.subarray(i, i + step), sink);
    splitter.end(sink);
  } else {
    const step = size ?? (text.length || 1);
    const splitter = new NdjsonSplitter();
    for (let i = 0; i < text.length; i += step) splitter.push(text.slice(i, i + step), out);
    splitter.end(out);
  }
  return out;
}

describe('CsvSplitter', () => {
  const file = `${CSV_HEADER}\r\na,b,c\n"x, y","say ""hi""",z\n\n"multi\nline",2\nlast,row`;
  const expected: ParsedRecord[] = [
    { line: 2, fields: ['a', 'b', 'c'] },
    { line: 3, fields: ['x, y', 'say "hi"', 'z'] },
    { line: 5, fields: ['multi\nline', '2'] },
    { line: 7, fields: ['last', 'row'] },
  ];

  it('splits RFC 4180 records with the line each starts on (CRLF, quotes, empty lines, no final newline)', () => {
    expect(split(file)).toEqual(expected);
  });

  it('gives the same records whatever the chunk boundaries', () => {
    for (const size of [1, 2, 3, 5, 7, 16]) expect(split(file, size)).toEqual(expected);
  });

  it('undoubles quotes in fields that span chunks, in any record of several', () => {
    const text = `${CSV_HEADER}\n"a""b","c""""d",""\n"x",y\n`;
    for (const size of [1, 2, 3, 4, 100]) {
      expect(split(text, size)).toEqual([
        { line: 2, fields: ['a"b', 'c""d', ''] },
        { line: 3, fields: ['x', 'y'] },
      ]);
    }
  });

  it('tolerates a BOM before the header', () => {
    expect(split(`\uFEFF${CSV_HEADER}\na\n`)).toEqual([{ line: 2, fields: ['a'] }]);
  });

  it('refuses a file without the exact header, or empty', () => {
    expect(() => split('customer_number,branch_code\na\n')).toThrow(RefusedFile);
    expect(() => split(`"${CSV_HEADER}"\n`)).toThrow(RefusedFile);
    expect(() => split('')).toThrow('the file is empty');
  });

  it('reports malformed quoting as a row error and goes on with the next line', () => {
    expect(split(`${CSV_HEADER}\nab"c,d\n"x"y,z\n"open\nok,1`)).toEqual([
      { line: 2, error: { reason: 'has a quote inside an unquoted field' } },
      { line: 3, error: { reason: 'has characters after a closing quote' } },
      { line: 4, error: { reason: 'has an unterminated quoted field' } },
      { line: 5, fields: ['ok', '1'] },
    ]);
  });

  it('does not wait for the end of the file on an unterminated quote or an endless line', () => {
    const splitter = new CsvSplitter();
    const out: ParsedRecord[] = [];
    splitter.push(Buffer.from(`${CSV_HEADER}\n"never closed,`), collect(out));
    splitter.push(Buffer.from('x'.repeat(70_000)), collect(out));
    expect(out).toEqual([{ line: 2, error: { reason: 'has an unterminated quoted field' } }]);
    const endless = new CsvSplitter();
    const out2: ParsedRecord[] = [];
    endless.push(Buffer.from(`${CSV_HEADER}\n`), collect(out2));
    endless.push(Buffer.from('y'.repeat(70_000)), collect(out2));
    endless.push(Buffer.from('y\nok,1\n'), collect(out2));
    endless.end(collect(out2));
    expect(out2).toEqual([{ line: 2, error: { reason: 'is longer than 65536 bytes' } }, { line: 3, fields: ['ok', '1'] }]);
  });

  it('round-trips any fields written with RFC 4180 quoting, in any chunking', () => {
    const field = fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', 'ア', ' ') });
    fc.assert(
      fc.property(fc.array(fc.array(field, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 9 }), (rows, size) => {
        const quote = (f: string) => (/[",\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
        const text = `${CSV_HEADER}\n${rows.map((r) => r.map(quote).join(',')).join('\n')}\n`;
        const records = split(text, size);
        // Rows whose whole text is empty are skipped as empty lines.
        const kept = rows.filter((r) => r.map(quote).join(',') !== '');
        expect(records.map((r) => ('fields' in r ? r.fields : r.error))).toEqual(kept);
      }),
    );
  });
});

describe('NdjsonSplitter', () => {
  const line = JSON.stringify({
    customerNumber: 'C1',
    branchCode: '001',
    accountType: 'ordinary',
    accountNumber: '0000001',
    nameKana: 'ヤマダ',
    birthDate: '1980-01-01',
    postalCode: null,
    address: '東京都',
    status: 'open',
  });

  it('gives the fields in CSV order with line numbers; bad lines are row errors', () => {
    const records = split(`${line}\n\nnot json\n{"customerNumber":1}\n${line}`, 10, 'ndjson');
    expect(records).toEqual([
      { line: 1, fields: ['C1', '001', 'ordinary', '0000001', 'ヤマダ', '1980-01-01', '', '東京都', 'open'] },
      { line: 3, error: { reason: 'is not valid JSON' } },
      { line: 4, error: { field: 'customer_number', reason: 'must be a string' } },
      { line: 5, fields: expect.any(Array) },
    ]);
  });

  it('refuses a file whose first line is not a record of the layout', () => {
    expect(() => split('[1]\n', undefined, 'ndjson')).toThrow(RefusedFile);
    expect(() => split('{"name":"x"}\n', undefined, 'ndjson')).toThrow(RefusedFile);
    expect(() => split('\n\n', undefined, 'ndjson')).toThrow('the file is empty');
  });
});

describe('encoding and sniffing', () => {
  it('detects Shift_JIS when the head is not UTF-8, and keeps UTF-8 cut inside a character', () => {
    expect(detectEncoding(iconv.encode('ヤマダ タロウ', 'cp932'))).toBe('shift_jis');
    expect(detectEncoding(Buffer.from('ヤマダ'))).toBe('utf-8');
    expect(detectEncoding(Buffer.from('ヤマダ').subarray(0, 4))).toBe('utf-8');
  });

  it('refuses from the first bytes: binary, wrong header, no rows, empty', () => {
    expect(sniffRefusal(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0]), 'csv', 'auto', false)).toMatch(/binary/);
    expect(sniffRefusal(Buffer.from('a,b\n1,2\n'), 'csv', 'auto', false)).toMatch(/header/);
    expect(sniffRefusal(Buffer.from(`${CSV_HEADER}\n`), 'csv', 'auto', true)).toMatch(/no rows/);
    expect(sniffRefusal(Buffer.alloc(0), 'ndjson', 'auto', true)).toMatch(/empty/);
    expect(sniffRefusal(iconv.encode(`${CSV_HEADER}\nC1,001`, 'cp932'), 'csv', 'shift_jis', false)).toBeNull();
    // Not yet a whole first line: cannot tell yet.
    expect(sniffRefusal(Buffer.from('customer_num'), 'csv', 'auto', false)).toBeNull();
  });
});
