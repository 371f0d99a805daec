import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { IsListLimit } from '../../common/validation/list-limit.js';
import { INQUIRY_STATUSES } from '../inquiry.types.js';
import type { InquiryStatus } from '../inquiry.types.js';

export class ListInquiriesQuery {
  @ApiPropertyOptional({ enum: INQUIRY_STATUSES })
  @IsOptional()
  @IsIn(INQUIRY_STATUSES)
  status?: InquiryStatus;

  @IsListLimit()
  limit?: number;
}
