import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { HasNoMyNumber, withCode } from '../../common/validation/validators.js';
import { REVOCATION_REASONS } from '../linkage.types.js';
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
  @IsString(withCode('INVALID_TYPE'))
  @Matches(/^[0-9]{3}$/, withCode('INVALID_FORMAT', { message: 'branchCode must be 3 digits' }))
  branchCode: string;

  @ApiProperty({ example: 'T0042' })
  @IsString(withCode('INVALID_TYPE'))
  @Matches(/^[A-Za-z0-9._@-]{1,64}$/, withCode('INVALID_FORMAT', { message: 'operatorId must be 1-64 of A-Z a-z 0-9 . _ @ -' }))
  @HasNoMyNumber()
  operatorId: string;
}
