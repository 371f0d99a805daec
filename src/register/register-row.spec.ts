import { describe, expect, it } from '@jest/globals';
import { nameKey } from './register-keys.js';
import {
  isRowError,
  ndjsonFields,
  parseBirthDate,
  parsePostalCode,
  validateRow,
  type RegisterRow,
} from './register-row.js';

const NOW = Date.UTC(2026, 0, 15, 3); // 2026-01-15 12:00 in Japan
const good = ['C-1', '001', 'ordinary', '0012345', 'ヤマダ タロウ', '1980-04-01', '100-0013', '東京都千代田区霞が関1丁目2番3号', 'open'];
const withField = (i: number, value: string) => good.map((f, j) => (j === i ? value : f));
const fieldOf = (fields: string[]) => {
  const result = validateRow(fields, NOW);
  return isRowError(result) ? (result.field ?? 'row') : 'ok';
};

describe('validateRow', () => {
  it('normalises a good row: Zengin kana and its key, the keys of matching, codes', () => {
    const row = validateRow(good, NOW) as RegisterRow;
    expect(row).toEqual({
      customerNumber: 'C-1',
      branchCode: '001',
      accountType: 'ordinary',
      accountNumber: '0012345',
      nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
      nameKey: nameKey('ヤマダ タロウ'),
      birthDate: '1980-04-01',
      postalCode: '1000013',
      address: '東京都千代田区霞が関1丁目2番3号',
      status: 'open',
    });
  });

  it.each([
    ['1', 'ordinary'],
    ['2', 'current'],
    ['4', 'savings'],
    ['9', 'other'],
    ['current', 'current'],
    ['savings', 'savings'],
    ['other', 'other'],
  ])('account type %s is %s', (given, type) => {
    expect((validateRow(withField(2, given), NOW) as RegisterRow).accountType).toBe(type);
  });

  it.each([
    [0, '', 'customer_number'],
    [0, 'C_1', 'customer_number'],
    [0, 'C'.repeat(21), 'customer_number'],
    [1, '01', 'branch_code'],
    [1, '0a1', 'branch_code'],
    [2, 'loan', 'account_type'],
    [2, '3', 'account_type'],
    [2, 'Ordinary', 'account_type'],
    [3, '123456', 'account_number'],
    [3, '１２３４５６７', 'account_number'],
    [4, 'やまだ たろう', 'name_kana'],
    [4, '山田 太郎', 'name_kana'],
    [4, '', 'name_kana'],
    [5, '1980-02-30', 'birth_date'],
    [5, '1899-12-31', 'birth_date'],
    [5, '2026-01-16', 'birth_date'],
    [5, '1980/04/01', 'birth_date'],
    [5, '198004', 'birth_date'],
    [6, '12-3456', 'postal_code'],
    [6, '1000-013', 'postal_code'],
    [7, '', 'address'],
    [7, '   ', 'address'],
    [7, 'a\tb', 'address'],
    [7, 'あ'.repeat(201), 'address'],
    [8, 'Open', 'status'],
  ])('field %i = %j is refused as %s', (i, value, field) => {
    expect(fieldOf(withField(i, value))).toBe(field);
  });

  it.each([
    [4, 'ﾔﾏﾀﾞ ﾀﾛｳ'],
    [5, '19800401'],
    [5, '2000-02-29'],
    [5, '2026-01-15'],
    [6, ''],
    [6, '1000013'],
    [7, 'あ'.repeat(200)],
    [7, '𠮷'.repeat(200)], // 200 characters, 400 UTF-16 units
    [8, 'closed'],
  ])('field %i = %j is accepted', (i, value) => {
    expect(fieldOf(withField(i, value))).toBe('ok');
  });

  it('counts columns', () => {
    expect(validateRow(good.slice(0, 8), NOW)).toEqual({ reason: 'has 8 columns; expected 9' });
    expect(validateRow([...good, 'x'], NOW)).toEqual({ reason: 'has 10 columns; expected 9' });
  });

  it('never puts the value in the reason', () => {
    const result = validateRow(withField(4, 'やまだ'), NOW);
    expect(JSON.stringify(result)).not.toContain('やまだ');
  });
});

describe('field parsers', () => {
  it('birth dates: real dates from 1900-01-01 to today (Japan)', () => {
    expect(parseBirthDate('1900-01-01', NOW)).toBe('1900-01-01');
    expect(parseBirthDate('19000229', NOW)).toBeNull(); // 1900 is not a leap year
    expect(parseBirthDate('2024-02-29', NOW)).toBe('2024-02-29');
    expect(parseBirthDate('2026-01-15', Date.UTC(2026, 0, 14, 16))).toBe('2026-01-15'); // 01:00 JST on the 15th
    expect(parseBirthDate('2026-01-15', Date.UTC(2026, 0, 14, 14))).toBeNull();
    expect(parseBirthDate('2026-13-01', NOW)).toBeNull();
  });

  it('postal codes', () => {
    expect(parsePostalCode('100-0013')).toBe('1000013');
    expect(parsePostalCode('')).toBeNull();
    expect(parsePostalCode('100 0013')).toBeUndefined();
  });

  it('NDJSON objects: layout keys only, strings, postalCode optional', () => {
    const record = {
      customerNumber: 'C1',
      branchCode: '001',
      accountType: '1',
      accountNumber: '0000001',
      nameKana: 'ヤマダ',
      birthDate: '1980-01-01',
      address: 'x',
      status: 'open',
    };
    expect(ndjsonFields(record)).toEqual(['C1', '001', '1', '0000001', 'ヤマダ', '1980-01-01', '', 'x', 'open']);
    expect(ndjsonFields({ ...record, extra: 1 })).toEqual({ reason: 'has a key outside the layout' });
    expect(ndjsonFields({ ...record, branchCode: 1 })).toEqual({ field: 'branch_code', reason: 'must be a string' });
    expect(ndjsonFields({ ...record, status: undefined })).toEqual({ field: 'status', reason: 'is required' });
    expect(ndjsonFields([1])).toEqual({ reason: 'is not a JSON object' });
  });
});
