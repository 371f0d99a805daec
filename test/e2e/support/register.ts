import { normalizeKanaName } from '../../../src/common/kana/kana-name.js';
import { nameKey } from '../../../src/register/register-keys.js';
import type { TestDatabase } from './test-database.js';

export interface RegisterRowInput {
  branchCode: string;
  accountType: 'ordinary' | 'current' | 'savings' | 'other';
  accountNumber: string;
  customerNumber: string;
  nameKana: string;
  birthDate: string;
  address: string;
  postalCode?: string;
  status?: 'open' | 'closed';
}

/**
 * Makes register rows for one test file: an account number of its own for each (from
 * `firstAccountNumber` up), the rest from `defaults`, then each call's overrides.
 */
export function registerRows(firstAccountNumber: number, defaults: Omit<RegisterRowInput, 'accountNumber'>) {
  let next = firstAccountNumber;
  return (overrides: Partial<RegisterRowInput> = {}): RegisterRowInput => ({
    ...defaults,
    accountNumber: String(++next).padStart(7, '0'),
    ...overrides,
  });
}

/**
 * Register rows as the importer would leave them (keys computed by the same
 * functions), written straight with SQL: these tests are about what reads the
 * register, not about importing it.
 */
export async function seedRegister(database: TestDatabase, institutionId: string, rows: RegisterRowInput[]): Promise<void> {
  if (rows.length === 0) return;
  const name = (r: RegisterRowInput) => {
    const normalized = normalizeKanaName(r.nameKana);
    if (normalized === null) throw new Error(`not a kana name: ${r.nameKana}`);
    return normalized;
  };
  // Partitioned by institution: the partition is created as the importer does.
  await database.query('SELECT kouza_register_partition($1)', [institutionId]);
  await database.query(
    `INSERT INTO account_register (institution_id, branch_code, account_type, account_number, customer_number,
                                   name_kana, name_key, birth_date, postal_code, address, status, closed_at)
     SELECT $1, r.branch, r.type, r.number, r.customer, r.name, r.name_key, r.birth::date, r.postal, r.address,
            r.status, CASE WHEN r.status = 'closed' THEN now() END
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                   $10::text[], $11::text[])
         AS r (branch, type, number, customer, name, name_key, birth, postal, address, status)
     ON CONFLICT (institution_id, branch_code, account_type, account_number) DO UPDATE
        SET customer_number = EXCLUDED.customer_number, name_kana = EXCLUDED.name_kana, name_key = EXCLUDED.name_key,
            birth_date = EXCLUDED.birth_date, postal_code = EXCLUDED.postal_code, address = EXCLUDED.address,
            status = EXCLUDED.status, closed_at = EXCLUDED.closed_at, updated_at = now()`,
    [
      institutionId,
      rows.map((r) => r.branchCode),
      rows.map((r) => r.accountType),
      rows.map((r) => r.accountNumber),
      rows.map((r) => r.customerNumber),
      rows.map(name),
      rows.map((r) => nameKey(r.nameKana)),
      rows.map((r) => r.birthDate),
      rows.map((r) => r.postalCode ?? null),
      rows.map((r) => r.address),
      rows.map((r) => r.status ?? 'open'),
    ],
  );
}
