import { readFile } from 'node:fs/promises';
import { isValidMyNumber } from '../common/my-number/my-number.js';
import { ACCOUNT_NUMBER_PATTERN, BRANCH_CODE_PATTERN } from '../linkages/dto/field-rules.js';
import { ACCOUNT_TYPES, type AccountRef } from '../linkages/linkage.types.js';
import { sameAccount, seededAccounts, type Seed } from './seeded.js';

/** One line of an accounts file: the accounts a number holds at one simulated institution. */
export interface AccountRecord {
  myNumber: string;
  institutionCode: string;
  accounts: AccountRef[];
}

const RECORD_FIELDS = new Set(['myNumber', 'institutionCode', 'accounts']);
const ACCOUNT_FIELDS = new Set(['branchCode', 'accountType', 'accountNumber']);

function hasOnly(value: unknown, fields: Set<string>): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).every((k) => fields.has(k))
  );
}

function isAccount(value: unknown): value is AccountRef {
  return (
    hasOnly(value, ACCOUNT_FIELDS) &&
    typeof value.branchCode === 'string' &&
    BRANCH_CODE_PATTERN.test(value.branchCode) &&
    (ACCOUNT_TYPES as readonly unknown[]).includes(value.accountType) &&
    typeof value.accountNumber === 'string' &&
    ACCOUNT_NUMBER_PATTERN.test(value.accountNumber)
  );
}

/** Why `value` is not an AccountRecord, or undefined when it is one. Never repeats the number. */
function recordProblem(value: unknown, institutionCodes: ReadonlySet<string>): string | undefined {
  if (!hasOnly(value, RECORD_FIELDS)) return 'must be an object with only myNumber, institutionCode, accounts';
  if (!isValidMyNumber(value.myNumber)) return 'myNumber must be 12 digits with a valid check digit';
  if (typeof value.institutionCode !== 'string' || !institutionCodes.has(value.institutionCode)) {
    return 'institutionCode is not one of the simulated institutions';
  }
  if (!Array.isArray(value.accounts) || value.accounts.length === 0 || !value.accounts.every(isAccount)) {
    return 'accounts must be a non-empty list of {branchCode: 3 digits, accountType, accountNumber: 7 digits}';
  }
  return undefined;
}

export class AccountsFileError extends Error {
  override name = 'AccountsFileError';
}

/** Reads an NDJSON accounts file (blank lines ignored); the error names the line, never its content. */
export async function readAccountsFile(path: string, institutionCodes: ReadonlySet<string>): Promise<AccountRecord[]> {
  const records: AccountRecord[] = [];
  const lines = (await readFile(path, 'utf8')).split('\n');
  for (let n = 0; n < lines.length; n++) {
    if (lines[n].trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(lines[n]);
    } catch {
      throw new AccountsFileError(`${path}:${n + 1}: not JSON`);
    }
    const problem = recordProblem(value, institutionCodes);
    if (problem) throw new AccountsFileError(`${path}:${n + 1}: ${problem}`);
    records.push(value as unknown as AccountRecord);
  }
  return records;
}

export function checkAccountRecords(records: readonly unknown[], institutionCodes: ReadonlySet<string>): void {
  records.forEach((record, n) => {
    const problem = recordProblem(record, institutionCodes);
    if (problem) throw new AccountsFileError(`accounts[${n}]: ${problem}`);
  });
}

/**
 * The simulated institutions' accounts: the seeded ones plus those listed explicitly
 * (a file, or records given in code), without duplicates.
 */
export class AccountBook {
  private readonly listed = new Map<string, AccountRef[]>();

  constructor(
    private readonly seed: Seed,
    private readonly hitRate: number,
    records: readonly AccountRecord[],
  ) {
    for (const record of records) {
      const key = AccountBook.key(record.myNumber, record.institutionCode);
      const accounts = this.listed.get(key) ?? [];
      for (const account of record.accounts) {
        if (!accounts.some((a) => sameAccount(a, account))) accounts.push({ ...account });
      }
      this.listed.set(key, accounts);
    }
  }

  private static key(myNumber: string, institutionCode: string): string {
    return `${institutionCode}:${myNumber}`;
  }

  accounts(myNumber: string, institutionCode: string): AccountRef[] {
    const seeded = seededAccounts(this.seed, this.hitRate, myNumber, institutionCode);
    const listed = this.listed.get(AccountBook.key(myNumber, institutionCode));
    if (!listed) return seeded;
    return [...seeded, ...listed.filter((a) => !seeded.some((s) => sameAccount(s, a)))];
  }
}
