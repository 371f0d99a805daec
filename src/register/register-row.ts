import { normalizeKanaName } from '../common/kana/kana-name.js';

/**
 * One row of an account register file: its validation and its normalised form, as
 * the importer writes it (register-copy-rows.ts). Per-field checks are charCode loops
 * rather than regular expressions: a register has millions of rows (see the
 * benchmark in the README).
 */

/** The CSV header, exactly (the order of the columns of every row). */
export const CSV_COLUMNS = [
  'customer_number',
  'branch_code',
  'account_type',
  'account_number',
  'name_kana',
  'birth_date',
  'postal_code',
  'address',
  'status',
] as const;
export type RegisterColumn = (typeof CSV_COLUMNS)[number];
export const CSV_HEADER = CSV_COLUMNS.join(',');

/** The NDJSON keys, in the same order as CSV_COLUMNS. */
export const NDJSON_KEYS = [
  'customerNumber',
  'branchCode',
  'accountType',
  'accountNumber',
  'nameKana',
  'birthDate',
  'postalCode',
  'address',
  'status',
] as const;

export const MAX_ADDRESS_LENGTH = 200;
export const MAX_CUSTOMER_NUMBER_LENGTH = 20;

/** Names (`account_type`) and Zengin codes (科目コード) of account types. */
const ACCOUNT_TYPES: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  ordinary: 'ordinary',
  current: 'current',
  savings: 'savings',
  other: 'other',
  '1': 'ordinary',
  '2': 'current',
  '4': 'savings',
  '9': 'other',
});

/** A field that failed, and why. Never the field's value: rows hold personal data. */
export interface RowError {
  field?: RegisterColumn;
  reason: string;
}

/** A valid row, normalised. */
export interface RegisterRow {
  customerNumber: string;
  branchCode: string;
  accountType: string;
  accountNumber: string;
  nameKana: string;
  nameKey: string;
  birthDate: string;
  postalCode: string | null;
  address: string;
  status: 'open' | 'closed';
}

function allDigits(value: string, length: number): boolean {
  if (value.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isCustomerNumber(value: string): boolean {
  if (value.length === 0 || value.length > MAX_CUSTOMER_NUMBER_LENGTH) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // 0-9 A-Z a-z -
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45)) return false;
  }
  return true;
}

function digitsAt(value: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Today as YYYYMMDD in Japan (birth dates are Japanese calendar days), cached per day. */
let todayCache = { since: 0, until: 0, value: 0 };
export function todayNumber(now = Date.now()): number {
  if (now >= todayCache.until || now < todayCache.since) {
    const jst = new Date(now + 9 * 3600_000);
    const value = jst.getUTCFullYear() * 10000 + (jst.getUTCMonth() + 1) * 100 + jst.getUTCDate();
    // Recomputed at the next JST midnight.
    const until = Date.UTC(jst.getUTCFullYear(), jst.getUTCMonth(), jst.getUTCDate() + 1) - 9 * 3600_000;
    todayCache = { since: until - 24 * 3600_000, until, value };
  }
  return todayCache.value;
}

/** YYYY-MM-DD or YYYYMMDD, a real date from 1900-01-01 to today → YYYY-MM-DD, else null. */
export function parseBirthDate(value: string, now?: number): string | null {
  let y: number, m: number, d: number;
  if (value.length === 10 && value.charCodeAt(4) === 45 && value.charCodeAt(7) === 45) {
    y = digitsAt(value, 0, 4);
    m = digitsAt(value, 5, 2);
    d = digitsAt(value, 8, 2);
  } else if (value.length === 8) {
    y = digitsAt(value, 0, 4);
    m = digitsAt(value, 4, 2);
    d = digitsAt(value, 6, 2);
  } else {
    return null;
  }
  if (y < 1900 || m < 1 || m > 12 || d < 1) return null;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (d > (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1])) return null;
  if (y * 10000 + m * 100 + d > todayNumber(now)) return null;
  return value.length === 10 ? value : `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}`;
}

/** Empty → null; 7 digits or NNN-NNNN → 7 digits; anything else → undefined (invalid). */
export function parsePostalCode(value: string): string | null | undefined {
  if (value.length === 0) return null;
  if (allDigits(value, 7)) return value;
  if (value.length === 8 && value.charCodeAt(3) === 45 && allDigits(value.slice(0, 3), 3) && allDigits(value.slice(4), 4)) {
    return value.slice(0, 3) + value.slice(4);
  }
  return undefined;
}

/** 1 to 200 characters (code points), no control characters, not only spaces. */
function addressProblem(value: string): string | null {
  if (value.length === 0) return 'is required';
  let blank = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return 'contains a control character';
    if (blank && c !== 0x20 && c !== 0x3000) blank = false;
  }
  if (blank) return 'is required';
  if (value.length > MAX_ADDRESS_LENGTH && [...value].length > MAX_ADDRESS_LENGTH) {
    return `is longer than ${MAX_ADDRESS_LENGTH} characters`;
  }
  return null;
}

/** The account's key (branch, type, number) if those three fields are valid, else null. */
export function accountKeyOf(fields: readonly string[]): [string, string, string] | null {
  const type = ACCOUNT_TYPES[fields[2]];
  return allDigits(fields[1], 3) && type !== undefined && allDigits(fields[3], 7) ? [fields[1], type, fields[3]] : null;
}

/**
 * Validates and normalises the nine fields of a row (CSV order). Returns the row, or
 * the first field that is wrong.
 */
export function validateRow(fields: readonly string[], now?: number): RegisterRow | RowError {
  if (fields.length !== CSV_COLUMNS.length) {
    return { reason: `has ${fields.length} columns; expected ${CSV_COLUMNS.length}` };
  }
  const [customerNumber, branchCode, type, accountNumber, kana, birth, postal, address, status] = fields;
  if (!isCustomerNumber(customerNumber)) {
    return { field: 'customer_number', reason: `must be 1 to ${MAX_CUSTOMER_NUMBER_LENGTH} of 0-9, A-Z, a-z and -` };
  }
  if (!allDigits(branchCode, 3)) return { field: 'branch_code', reason: 'must be 3 digits' };
  const accountType = ACCOUNT_TYPES[type];
  if (accountType === undefined) {
    return { field: 'account_type', reason: 'must be ordinary, current, savings, other or the code 1, 2, 4 or 9' };
  }
  if (!allDigits(accountNumber, 7)) return { field: 'account_number', reason: 'must be 7 digits' };
  const nameKana = normalizeKanaName(kana);
  if (nameKana === null) {
    return { field: 'name_kana', reason: 'is not a katakana name (full-width katakana or Zengin half-width)' };
  }
  const birthDate = parseBirthDate(birth, now);
  if (birthDate === null) {
    return { field: 'birth_date', reason: 'must be a date from 1900-01-01 to today, YYYY-MM-DD or YYYYMMDD' };
  }
  const postalCode = parsePostalCode(postal);
  if (postalCode === undefined) return { field: 'postal_code', reason: 'must be empty or 7 digits (NNN-NNNN accepted)' };
  const addressError = addressProblem(address);
  if (addressError !== null) return { field: 'address', reason: addressError };
  if (status !== 'open' && status !== 'closed') return { field: 'status', reason: 'must be open or closed' };
  return {
    customerNumber,
    branchCode,
    accountType,
    accountNumber,
    nameKana,
    // nameKey(kana) is exactly this (the canonical form without spaces); normalising
    // twice would double the cost of the most expensive field.
    nameKey: nameKana.replace(/ /g, ''),
    birthDate,
    postalCode,
    address,
    status,
  };
}

export function isRowError(result: RegisterRow | RowError): result is RowError {
  return (result as RowError).reason !== undefined;
}

/**
 * An NDJSON line's object → the nine fields in CSV order, or an error. Keys outside the
 * layout are refused; postalCode may be absent or null; every other value is a string.
 */
export function ndjsonFields(value: unknown): string[] | RowError {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { reason: 'is not a JSON object' };
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(NDJSON_KEYS as readonly string[]).includes(key)) return { reason: 'has a key outside the layout' };
  }
  const out: string[] = [];
  for (let i = 0; i < NDJSON_KEYS.length; i++) {
    const v = record[NDJSON_KEYS[i]];
    if (typeof v === 'string') out.push(v);
    else if (NDJSON_KEYS[i] === 'postalCode' && (v === undefined || v === null)) out.push('');
    else if (v === undefined) return { field: CSV_COLUMNS[i], reason: 'is required' };
    else return { field: CSV_COLUMNS[i], reason: 'must be a string' };
  }
  return out;
}
