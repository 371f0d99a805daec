import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { IsDefined, IsString, Matches } from 'class-validator';
import { HasNoMyNumber, IsIsoDateTime, IsNotInFuture, withCode } from '../../common/validation/validators.js';

/** The formats of the teller-facing fields, defined once for bodies, queries and headers. */
export const BRANCH_CODE_PATTERN = /^[0-9]{3}$/;
export const ACCOUNT_NUMBER_PATTERN = /^[0-9]{7}$/;
export const OPERATOR_ID_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;
export const OPERATOR_ID_RULE = 'must be 1-64 of A-Z a-z 0-9 . _ @ -';

export const IsBranchCode = () =>
  applyDecorators(
    IsString(withCode('INVALID_TYPE')),
    Matches(BRANCH_CODE_PATTERN, withCode('INVALID_FORMAT', { message: '$property must be 3 digits' })),
  );

/** Seven digits, zero-padded, kept as sent. */
export const IsAccountNumber = () =>
  applyDecorators(
    IsString(withCode('INVALID_TYPE')),
    Matches(ACCOUNT_NUMBER_PATTERN, withCode('INVALID_FORMAT', { message: '$property must be 7 digits (zero-padded)' })),
  );

export const IsOperatorId = () =>
  applyDecorators(
    IsString(withCode('INVALID_TYPE')),
    Matches(OPERATOR_ID_PATTERN, withCode('INVALID_FORMAT', { message: `$property ${OPERATOR_ID_RULE}` })),
    HasNoMyNumber(),
  );

/** When the depositor consented (linkages, numbering requests): an ISO 8601 time, required, not in the future. */
export const IsConsentAt = () =>
  applyDecorators(
    ApiProperty({ example: '2026-04-01T10:15:00+09:00', description: 'When the depositor consented; not in the future' }),
    IsDefined(),
    IsIsoDateTime(),
    IsNotInFuture(),
  );
