export const ACCOUNT_TYPES = ['ordinary', 'current', 'savings', 'other'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

export const NUMBER_DOCUMENTS = ['my-number-card', 'notification-card', 'resident-record-with-number'] as const;
export const IDENTITY_DOCUMENTS = [
  'my-number-card',
  'drivers-license',
  'passport',
  'residence-card',
  'other-photo-id',
] as const;

export const REVOCATION_REASONS = [
  'depositor-request',
  'attached-in-error',
  'account-closed',
  'number-changed',
  'other',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export type LinkageStatus = 'active' | 'revoked';

export interface AccountRef {
  branchCode: string;
  accountType: AccountType;
  accountNumber: string;
}

export const accountKey = (a: AccountRef) => `${a.branchCode}:${a.accountType}:${a.accountNumber}`;
