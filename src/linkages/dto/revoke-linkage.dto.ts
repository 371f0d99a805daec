import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { HasNoMyNumber, withCode } from '../../common/validation/validators.js';
import { REVOCATION_REASONS } from '../linkage.types.js';
import { IsBranchCode, IsOperatorId } from './field-rules.js';
import type { RevocationReason } from '../linkage.types.js';

export class RevokeLinkageDto {
  @ApiProperty({ enum: REVOCATION_REASONS })
  @IsIn(REVOCATION_REASONS)
  reason: RevocationReason;

  @ApiPropertyOptional({ maxLength: 200, description: 'Free text; must not contain a My Number' })
  @IsOptional()
  @IsString(withCode('INVALID_TYPE'))
  @Length(1, 200)
  @HasNoMyNumber()
  note?: string;

  @ApiProperty({ example: '001' })
  @IsBranchCode()
  branchCode: string;

  @ApiProperty({ example: 'T0042' })
  @IsOperatorId()
  operatorId: string;
}
