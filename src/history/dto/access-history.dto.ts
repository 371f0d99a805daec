import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { IsCalendarDate, IsKanaName, IsMyNumber, IsNestedObject, IsPastDate, withCode } from '../../common/validation/validators.js';
import { IsBranchCode, IsOperatorId } from '../../linkages/dto/field-rules.js';
import { IDENTITY_DOCUMENTS, NUMBER_DOCUMENTS } from '../../linkages/linkage.types.js';

export const MAX_HISTORY_PAGE = 200;
export const DEFAULT_HISTORY_PAGE = 50;
/** Who asked for the history at the branch (the item's purpose in the next history). */
export const HISTORY_REQUEST_PURPOSES = ['depositor-request', 'legal-representative-request'] as const;
export type HistoryRequestPurpose = (typeof HISTORY_REQUEST_PURPOSES)[number];

export class HistorySubjectDto {
  @ApiProperty({ example: '123456789018', description: '12 digits with check digit; never returned, never stored in clear' })
  @IsDefined()
  @IsMyNumber()
  myNumber: string;

  @ApiPropertyOptional({ example: 'ヤマダ タロウ', description: 'Checked for its form only; not matched (names change)' })
  @IsOptional()
  @IsKanaName()
  nameKana?: string;

  @ApiProperty({
    example: '1980-04-01',
    format: 'date',
    description: 'Must equal the birth date recorded with the number: records under another birth date are not shown',
  })
  @IsDefined()
  @IsCalendarDate()
  @IsPastDate()
  birthDate: string;
}

/** How the depositor's identity was verified at the branch (the linkages' vocabularies). */
export class HistoryVerificationDto {
  @ApiProperty({ enum: IDENTITY_DOCUMENTS, description: 'How the identity was confirmed' })
  @IsIn(IDENTITY_DOCUMENTS)
  identityDocument: string;

  @ApiPropertyOptional({ enum: NUMBER_DOCUMENTS, description: 'How the number was confirmed, when a document showed it' })
  @IsOptional()
  @IsIn(NUMBER_DOCUMENTS)
  numberDocument?: string;
}

export class AccessHistoryRequestDto {
  @ApiProperty({ example: '001', description: 'Branch where the depositor asks' })
  @IsBranchCode()
  branchCode: string;

  @ApiProperty({ example: 'T0042', description: "The teller's id, for the audit trail" })
  @IsOperatorId()
  operatorId: string;

  @ApiProperty({ type: HistorySubjectDto })
  @IsNestedObject(() => HistorySubjectDto)
  subject: HistorySubjectDto;

  @ApiProperty({ type: HistoryVerificationDto })
  @IsNestedObject(() => HistoryVerificationDto)
  verification: HistoryVerificationDto;

  @ApiPropertyOptional({ enum: HISTORY_REQUEST_PURPOSES, default: 'depositor-request' })
  @IsOptional()
  @IsIn(HISTORY_REQUEST_PURPOSES)
  purpose?: HistoryRequestPurpose;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_HISTORY_PAGE, default: DEFAULT_HISTORY_PAGE })
  @IsOptional()
  @IsInt(withCode('INVALID_TYPE'))
  @Min(1)
  @Max(MAX_HISTORY_PAGE)
  limit?: number;

  @ApiPropertyOptional({ description: "The previous page's `nextCursor`, to read older events" })
  @IsOptional()
  @IsString(withCode('INVALID_TYPE'))
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, withCode('INVALID_FORMAT', { message: '$property must be a nextCursor from an earlier page' }))
  cursor?: string;
}
