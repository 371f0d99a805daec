import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsDefined,
  IsIn,
  ValidateNested,
} from 'class-validator';
import {
  IsCalendarDate,
  IsIsoDateTime,
  IsKanaName,
  IsMyNumber,
  IsNotInFuture,
  IsPastDate,
  IsNestedObject,
} from '../../common/validation/validators.js';
import { IsAccountNumber, IsBranchCode, IsOperatorId } from './field-rules.js';
import { ACCOUNT_TYPES, accountKey, IDENTITY_DOCUMENTS, NUMBER_DOCUMENTS } from '../linkage.types.js';
import type { AccountType } from '../linkage.types.js';

export const MAX_ACCOUNTS_PER_REQUEST = 100;


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

  @ApiProperty({ type: [AccountDto], minItems: 1, maxItems: MAX_ACCOUNTS_PER_REQUEST })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ACCOUNTS_PER_REQUEST)
  @ArrayUnique((a: AccountDto) => (a && typeof a === 'object' ? accountKey(a) : a), {
    message: 'accounts must not list the same account twice',
  })
  @ValidateNested({ each: true })
  @Type(() => AccountDto)
  accounts: AccountDto[];

  @ApiProperty({ type: VerificationDto })
  @IsNestedObject(() => VerificationDto)
  verification: VerificationDto;

  @ApiProperty({ example: '2026-04-01T10:15:00+09:00', description: 'When the depositor consented; not in the future' })
  @IsDefined()
  @IsIsoDateTime()
  @IsNotInFuture()
  consentAt: string;
}
