import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { DomainError } from '../common/errors/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { nameKey } from '../register/register-keys.js';
import type { AccountRef, AccountType } from './linkage.types.js';

export interface RegisterHolder {
  nameKana: string;
  birthDate: string;
}

/**
 * Attachments against the institution's account register (when it has one): the
 * accounts a teller lists must be in it, open, and the subject's (name key and birth
 * date); `accounts: "all"` is resolved from it. Refusals name the account, never the
 * register's holder data.
 *
 * The checks read the register as it is when the request arrives; an import that
 * commits while the attachment is written does not undo it.
 */
@Injectable()
export class RegisterChecks {
  /** Per institution id: whether it has a register, and until when that answer holds. */
  private readonly presence = new Map<string, { until: number; has: Promise<boolean> }>();

  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(AppConfig) private readonly config: AppConfig,
  ) {}

  /**
   * Whether the institution has any register row (the first row of its partition),
   * remembered REGISTER_PRESENCE_CACHE_SECONDS so that institutions without one (the
   * teller's hot path) pay a map look-up, not a query.
   */
  hasRegister(institutionId: string): Promise<boolean> {
    const now = Date.now();
    const cached = this.presence.get(institutionId);
    if (cached && cached.until > now) return cached.has;
    const has = this.pool
      .query<{ has: boolean }>({
        name: 'kouza_register_presence',
        text: 'SELECT EXISTS (SELECT 1 FROM account_register WHERE institution_id = $1) AS has',
        values: [institutionId],
      })
      .then((r) => r.rows[0].has);
    const ttlMs = this.config.REGISTER_PRESENCE_CACHE_SECONDS * 1000;
    if (ttlMs > 0) {
      this.presence.set(institutionId, { until: now + ttlMs, has });
      // A failed probe is not remembered.
      has.catch(() => this.presence.delete(institutionId));
    }
    return has;
  }

  /**
   * Throws the refusal of the first listed account (in request order) that is not in
   * the register (ACCOUNT_NOT_IN_REGISTER), closed (ACCOUNT_CLOSED) or another
   * holder's (ACCOUNT_HOLDER_MISMATCH). One statement: a primary-key probe per account.
   */
  async checkAccounts(institutionId: string, holder: RegisterHolder, accounts: AccountRef[]): Promise<void> {
    const { rows } = await this.pool.query<{ ord: string; found: boolean; open: boolean; holderMatches: boolean }>({
      name: 'kouza_register_check_accounts',
      text: `
        SELECT a.ord, r.institution_id IS NOT NULL AS found, r.status = 'open' AS open,
               r.name_key = $5 AND r.birth_date = $6::date AS "holderMatches"
          FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS a (branch, type, number, ord)
          LEFT JOIN account_register r
            ON r.institution_id = $1 AND r.branch_code = a.branch AND r.account_type = a.type
           AND r.account_number = a.number
         ORDER BY a.ord`,
      values: [
        institutionId,
        accounts.map((a) => a.branchCode),
        accounts.map((a) => a.accountType),
        accounts.map((a) => a.accountNumber),
        nameKey(holder.nameKana) ?? '',
        holder.birthDate,
      ],
    });
    for (const row of rows) {
      const account = accounts[Number(row.ord) - 1];
      const { branchCode, accountType, accountNumber } = account;
      const named = `Account ${branchCode}-${accountType}-${accountNumber}`;
      const extra = { account: { branchCode, accountType, accountNumber } };
      if (!row.found) throw new DomainError('ACCOUNT_NOT_IN_REGISTER', `${named} is not in the account register`, extra);
      if (!row.open) throw new DomainError('ACCOUNT_CLOSED', `${named} is closed in the account register`, extra);
      if (!row.holderMatches) {
        throw new DomainError(
          'ACCOUNT_HOLDER_MISMATCH',
          `${named} is held in the account register by another depositor (kana name or birth date differ)`,
          extra,
        );
      }
    }
  }

  /**
   * `accounts: "all"`: every open account in the register whose holder has the
   * subject's name key and birth date, when they belong to one customer number.
   * None: NO_ACCOUNTS_IN_REGISTER; several customers: REGISTER_HOLDER_AMBIGUOUS (the
   * teller lists the accounts instead). The holder index (kouza_holder_key, migration 0011) answers.
   */
  async allAccounts(institutionId: string, holder: RegisterHolder): Promise<AccountRef[]> {
    const { rows } = await this.pool.query<{ branchCode: string; accountType: AccountType; accountNumber: string; customerNumber: string }>({
      name: 'kouza_register_all_accounts',
      text: `
        SELECT branch_code AS "branchCode", account_type AS "accountType", account_number AS "accountNumber",
               customer_number AS "customerNumber"
          FROM account_register
         WHERE institution_id = $1 AND kouza_holder_key(name_key, birth_date) = kouza_holder_key($2, $3::date)
           AND name_key = $2 AND birth_date = $3::date AND status = 'open'
         ORDER BY branch_code, account_type, account_number`,
      values: [institutionId, nameKey(holder.nameKana) ?? '', holder.birthDate],
    });
    if (rows.length === 0) {
      throw new DomainError(
        'NO_ACCOUNTS_IN_REGISTER',
        'The account register has no open account of a holder with this kana name and birth date',
      );
    }
    const customers = new Set(rows.map((r) => r.customerNumber));
    if (customers.size > 1) {
      throw new DomainError(
        'REGISTER_HOLDER_AMBIGUOUS',
        'Several customers in the account register have this kana name and birth date; list the accounts to attach',
      );
    }
    return rows.map(({ branchCode, accountType, accountNumber }) => ({ branchCode, accountType, accountNumber }));
  }
}
