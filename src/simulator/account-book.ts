import { readFile } from 'node:fs/promises';
import { isKanaName } from '../common/kana/kana-name.js';
import { isValidMyNumber } from '../common/my-number/my-number.js';
import { isCalendarDate } from '../common/validation/validators.js';
import { ACCOUNT_NUMBER_PATTERN, BRANCH_CODE_PATTERN } from '../linkages/dto/field-rules.js';
import { ACCOUNT_TYPES, type AccountRef } from '../linkages/linkage.types.js';
import { nameKey } from '../register/register-keys.js';
import { sameAccount, seededAccounts, seededHolder, type Seed, type SimulatedHolder } from './seeded.js';

/**
 * One line of an accounts file: the accounts a number holds at one simulated
 * institution, and optionally who holds them there (both nameKana and birthDate; by
 * default the seeded holder of the number, seededHolder()).
 */
export interface AccountRecord {
  myNumber: string;
  institutionCode: string;
  accounts: AccountRef[];
  nameKana?: string;
  birthDate?: string;
}

const RECORD_FIELDS = new Set(['myNumber', 'institutionCode', 'accounts', 'nameKana', 'birthDate']);
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
  if (!hasOnly(value, RECORD_FIELDS)) return 'must be an object with only myNumber, institutionCode, accounts, nameKana, birthDate';
  if (!isValidMyNumber(value.myNumber)) return 'myNumber must be 12 digits with a valid check digit';
  if (typeof value.institutionCode !== 'string' || !institutionCodes.has(value.institutionCode)) {
    return 'institutionCode is not one of the simulated institutions';
  }
  if (!Array.isArray(value.accounts) || value.accounts.length === 0 || !value.accounts.every(isAccount)) {
    return 'accounts must be a non-empty list of {branchCode: 3 digits, accountType, accountNumber: 7 digits}';
  }
  if (('nameKana' in value) !== ('birthDate' in value)) return 'nameKana and birthDate go together';
  if ('nameKana' in value && (!isKanaName(value.nameKana) || !isCalendarDate(value.birthDate))) {
    return 'nameKana must be a kana name and birthDate a date, YYYY-MM-DD';
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
/** Numbers whose holder is kept (accountsOf), at most. */
const MAX_KEPT_HOLDERS = 100_000;

export class AccountBook {
  private readonly listed = new Map<string, AccountRef[]>();
  private readonly holders = new Map<string, SimulatedHolder>();

  private readonly defaultHolders = new Map<string, { nameKey: string | null; birthDate: string }>();

  constructor(
    private readonly seed: Seed,
    private readonly hitRate: number,
    records: readonly AccountRecord[],
    /** Every number's holder where no record names one; by default the seeded holder of each number. */
    private readonly defaultHolder?: SimulatedHolder,
  ) {
    for (const record of records) {
      const key = AccountBook.key(record.myNumber, record.institutionCode);
      const accounts = this.listed.get(key) ?? [];
      for (const account of record.accounts) {
        if (!accounts.some((a) => sameAccount(a, account))) accounts.push({ ...account });
      }
      this.listed.set(key, accounts);
      if (record.nameKana !== undefined && record.birthDate !== undefined) {
        this.holders.set(key, { nameKana: record.nameKana, birthDate: record.birthDate });
      }
    }
  }

  /** Who holds the number's accounts at the institution: as listed, else the seeded holder. */
  holder(myNumber: string, institutionCode: string): SimulatedHolder {
    return this.holders.get(AccountBook.key(myNumber, institutionCode)) ?? this.defaultHolder ?? seededHolder(this.seed, myNumber);
  }

  /**
   * The accounts of a query's subject: the number's accounts when the holder's name key
   * and birth date are the query's (the rule of kouza-hub's HostedLocations), else none.
   */
  accountsOf(query: { myNumber: string; nameKey: string; birthDate: string }, institutionCode: string): AccountRef[] {
    const holder = this.holderKey(query.myNumber, institutionCode);
    if (holder.nameKey !== query.nameKey || holder.birthDate !== query.birthDate) return [];
    return this.accounts(query.myNumber, institutionCode);
  }

  /**
   * The holder's name key and birth date. A number's seeded holder does not depend on the
   * institution, and a fan-out asks the same numbers at every node: kept (a bounded map),
   * so that the simulated peers cost what a real peer's index look-up would, not an HMAC
   * and a kana normalization per query and node.
   */
  private holderKey(myNumber: string, institutionCode: string): { nameKey: string | null; birthDate: string } {
    const listed = this.holders.get(AccountBook.key(myNumber, institutionCode));
    if (listed) return { nameKey: nameKey(listed.nameKana), birthDate: listed.birthDate };
    let known = this.defaultHolders.get(myNumber);
    if (!known) {
      const holder = this.defaultHolder ?? seededHolder(this.seed, myNumber);
      known = { nameKey: nameKey(holder.nameKana), birthDate: holder.birthDate };
      if (this.defaultHolders.size >= MAX_KEPT_HOLDERS) this.defaultHolders.clear();
      this.defaultHolders.set(myNumber, known);
    }
    return known;
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
