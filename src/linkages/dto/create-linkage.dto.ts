import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';
import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsDefined,
  IsIn,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import {
  IsCalendarDate,
  IsKanaName,
  IsMyNumber,
  IsPastDate,
  IsNestedObject,
  withCode,
} from '../../common/validation/validators.js';
import { IsAccountNumber, IsBranchCode, IsConsentAt, IsOperatorId } from './field-rules.js';
import { ACCOUNT_TYPES, accountKey, IDENTITY_DOCUMENTS, NUMBER_DOCUMENTS } from '../linkage.types.js';
import type { AccountType } from '../linkage.types.js';

export const MAX_ACCOUNTS_PER_REQUEST = 100;

/** `accounts: "all"`: every open account of the depositor in the institution's account register. */
export const ALL_ACCOUNTS = 'all';

export class SubjectDto {
  @ApiProperty({ example: '123456789018', description: '12 digits with check digit; never returned, never stored in clear' })
  @IsDefined()
  @IsMyNumber()
  myNumber: string;

  @ApiProperty({ example: 'ヤマダ タロウ', description: 'Full-width katakana or Zengin half-width; stored in Zengin half-width form' })
  @IsDefined()
  @IsKanaName()
  nameKana: string;

  @ApiProperty({ example: '1980-04-01', format: 'date' })
  @IsDefined()
  @IsCalendarDate()
  @IsPastDate()
  birthDate: string;
}

export class AccountDto {
  @ApiProperty({ example: '001', description: '3-digit branch code' })
  @IsBranchCode()
  branchCode: string;

  @ApiProperty({ enum: ACCOUNT_TYPES })
  @IsIn(ACCOUNT_TYPES)
  accountType: AccountType;

  @ApiProperty({ example: '0012345', description: '7 digits, zero-padded' })
  @IsAccountNumber()
  accountNumber: string;
}

export class VerificationDto {
  @ApiProperty({ enum: NUMBER_DOCUMENTS, description: 'How the number was confirmed' })
  @IsIn(NUMBER_DOCUMENTS)
  numberDocument: string;

  @ApiProperty({ enum: IDENTITY_DOCUMENTS, description: 'How the identity was confirmed' })
  @IsIn(IDENTITY_DOCUMENTS)
  identityDocument: string;
}

/**
 * `"all"`, or a list of 1 to MAX_ACCOUNTS_PER_REQUEST distinct accounts, each
 * validated as AccountDto (field errors at `accounts[i].field`). The list's rules are
 * skipped for "all"; anything else that is not an array is INVALID_TYPE.
 */
export const IsAccountListOrAll = () =>
  applyDecorators(
    ValidateIf((o: { accounts?: unknown }) => o.accounts !== ALL_ACCOUNTS),
    IsArray(withCode('INVALID_TYPE', { message: `$property must be "${ALL_ACCOUNTS}" or an array of accounts` })),
    ArrayMinSize(1),
    ArrayMaxSize(MAX_ACCOUNTS_PER_REQUEST),
    ArrayUnique((a: AccountDto) => (a && typeof a === 'object' ? accountKey(a) : a), {
      message: 'accounts must not list the same account twice',
    }),
    ValidateNested({ each: true }),
    Type(() => AccountDto),
  );

@ApiExtraModels(AccountDto)
export class CreateLinkageDto {
  @ApiProperty({ example: '001', description: 'Branch where the teller acts' })
  @IsBranchCode()
  branchCode: string;

  @ApiProperty({ example: 'T0042', description: "The teller's id, for the audit trail" })
  @IsOperatorId()
  operatorId: string;

  @ApiProperty({ type: SubjectDto })
  @IsNestedObject(() => SubjectDto)
  subject: SubjectDto;

  @ApiProperty({
    oneOf: [
      { type: 'string', enum: [ALL_ACCOUNTS], description: "Every open account of the depositor in the institution's account register" },
      { type: 'array', items: { $ref: getSchemaPath(AccountDto) }, minItems: 1, maxItems: MAX_ACCOUNTS_PER_REQUEST },
    ],
    description:
      'The accounts to link, or "all" (needs an account register: every open account whose holder has the subject\'s ' +
      'kana name and birth date, when they are one customer\'s)',
  })
  @IsAccountListOrAll()
  accounts: AccountDto[] | typeof ALL_ACCOUNTS;

  @ApiProperty({ type: VerificationDto })
  @IsNestedObject(() => VerificationDto)
  verification: VerificationDto;

  @IsConsentAt()
  consentAt: string;
}
