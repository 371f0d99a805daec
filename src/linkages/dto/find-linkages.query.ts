import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { withCode } from '../../common/validation/validators.js';
import { ACCOUNT_TYPES } from '../linkage.types.js';
import type { AccountType, LinkageStatus } from '../linkage.types.js';

export class FindLinkagesQuery {
  @ApiProperty({ example: '001' })
  @IsString(withCode('INVALID_TYPE'))
  @Matches(/^[0-9]{3}$/, withCode('INVALID_FORMAT', { message: 'branchCode must be 3 digits' }))
  branchCode: string;

  @ApiProperty({ enum: ACCOUNT_TYPES })
  @IsIn(ACCOUNT_TYPES)
  accountType: AccountType;

  @ApiProperty({ example: '0012345' })
  @IsString(withCode('INVALID_TYPE'))
  @Matches(/^[0-9]{7}$/, withCode('INVALID_FORMAT', { message: 'accountNumber must be 7 digits (zero-padded)' }))
  accountNumber: string;

  @ApiPropertyOptional({ enum: ['active', 'revoked'], description: 'Default: both, newest first' })
  @IsOptional()
  @IsIn(['active', 'revoked'])
  status?: LinkageStatus;
}
