import { ApiProperty } from '@nestjs/swagger';
import { ERROR_CATALOGUE, FIELD_ERROR_CODES } from '../errors/error-codes.js';

export class FieldErrorDto {
  @ApiProperty({ example: 'subject.myNumber' })
  path: string;

  @ApiProperty({ enum: FIELD_ERROR_CODES })
  code: string;

  @ApiProperty({ example: 'subject.myNumber must be 12 digits with a valid check digit' })
  message: string;
}

/** RFC 9457 problem details as this API sends them. */
export class ProblemDto {
  @ApiProperty({ example: 'urn:kouza-hub:problem:validation-failed' })
  type: string;

  @ApiProperty({ example: 'The request is invalid' })
  title: string;

  @ApiProperty({ example: 422 })
  status: number;

  @ApiProperty({ enum: Object.keys(ERROR_CATALOGUE), description: 'Stable machine code' })
  code: string;

  @ApiProperty({ required: false })
  detail?: string;

  @ApiProperty({ required: false, description: 'Quote it when reporting a problem' })
  requestId?: string;

  @ApiProperty({ type: [FieldErrorDto], required: false, description: 'For validation failures' })
  errors?: FieldErrorDto[];
}
