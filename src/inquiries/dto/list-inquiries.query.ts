import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { withCode } from '../../common/validation/validators.js';
import { INQUIRY_STATUSES } from '../inquiry.types.js';
import type { InquiryStatus } from '../inquiry.types.js';

export class ListInquiriesQuery {
  @ApiPropertyOptional({ enum: INQUIRY_STATUSES })
  @IsOptional()
  @IsIn(INQUIRY_STATUSES)
  status?: InquiryStatus;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value))
  @IsInt(withCode('INVALID_TYPE'))
  @Min(1)
  @Max(200)
  limit?: number;
}
