import { ERROR_CATALOGUE, ErrorCode, FieldErrorCode } from './error-codes.js';

export interface FieldError {
  /** Path of the offending field in the request, e.g. `accounts[0].accountNumber`. */
  path: string;
  code: FieldErrorCode;
  message: string;
}

/**
 * An error the API answers with deliberately: a stable code from the catalogue and a
 * detail written for the caller. Never put personal data (a My Number, a name) in
 * `detail` or `extra`: they are sent as they are.
 */
export class DomainError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? ERROR_CATALOGUE[code].title);
    this.name = 'DomainError';
    this.status = ERROR_CATALOGUE[code].status;
  }
}

/** Field errors a 422 lists at most (all are counted in its detail). */
export const MAX_LISTED_FIELD_ERRORS = 100;

export class ValidationFailed extends DomainError {
  constructor(readonly errors: FieldError[]) {
    const codes = new Set(errors.map((e) => e.code));
    const single = codes.size === 1 ? [...codes][0] : undefined;
    const code: ErrorCode = single === 'INVALID_MY_NUMBER' ? 'INVALID_MY_NUMBER' : 'VALIDATION_FAILED';
    const listed = errors.slice(0, MAX_LISTED_FIELD_ERRORS);
    const detail =
      listed.length < errors.length
        ? `${errors.length} field(s) are invalid; the first ${listed.length} are listed`
        : `${errors.length} field(s) are invalid`;
    super(code, detail, { errors: listed });
  }
}

export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found`);
