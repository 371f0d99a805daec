import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { IsAccountNumber, IsBranchCode } from './field-rules.js';
import { ACCOUNT_TYPES } from '../linkage.types.js';
import type { AccountType, LinkageStatus } from '../linkage.types.js';

export class FindLinkagesQuery {
  @ApiProperty({ example: '001' })
  @IsBranchCode()
  branchCode: string;

  @ApiProperty({ enum: ACCOUNT_TYPES })
  @IsIn(ACCOUNT_TYPES)
  accountType: AccountType;

  @ApiProperty({ example: '0012345' })
  @IsAccountNumber()
  accountNumber: string;

  @ApiPropertyOptional({ enum: ['active', 'revoked'], description: 'Default: both, newest first' })
  @IsOptional()
  @IsIn(['active', 'revoked'])
  status?: LinkageStatus;
}
