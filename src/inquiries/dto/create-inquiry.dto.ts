import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  ValidateNested,
} from 'class-validator';
import {
  HasNoMyNumber,
  IsCalendarDate,
  IsMunicipalityCode,
  withCode,
  IsNestedObject,
} from '../../common/validation/validators.js';
import { SubjectDto } from '../../linkages/dto/create-linkage.dto.js';
import { IsBranchCode, IsOperatorId } from '../../linkages/dto/field-rules.js';
import { EVIDENCE_TYPES, INQUIRY_KINDS, RELATIONSHIPS } from '../inquiry.types.js';
import type { InquiryKind } from '../inquiry.types.js';

export const MAX_TARGET_INSTITUTIONS = 5000;

/** An optional list of target institution codes (inquiries, numbering requests): 1 to 5000 distinct 4-digit codes. */
export function IsTargetInstitutions(): PropertyDecorator {
  return applyDecorators(
    IsOptional(),
    IsArray(withCode('INVALID_TYPE')),
    ArrayMinSize(1, withCode('TOO_FEW')),
    ArrayMaxSize(MAX_TARGET_INSTITUTIONS, withCode('TOO_MANY')),
    ArrayUnique(undefined, withCode('DUPLICATE')),
    Matches(/^[0-9]{4}$/, { each: true, ...withCode('INVALID_FORMAT', { message: '$property must hold 4-digit institution codes' }) }),
  );
}
export const MAX_EVIDENCE = 10;

/** The subject of a linkage (number, kana name, birth date), and what an inquiry adds. */
export class InquirySubjectDto extends SubjectDto {
  @ApiPropertyOptional({ example: '2026-10-01', format: 'date', description: 'Inheritance: required, not in the future' })
  @IsOptional()
  @IsCalendarDate()
  dateOfDeath?: string;

  @ApiPropertyOptional({
    example: '172049',
    description: 'Disaster: required; where the depositor lives (JIS X 0402, 6 digits with check digit or 5)',
  })
  @IsOptional()
  @IsMunicipalityCode()
  municipalityCode?: string;
}

export class ApplicantDto {
  @ApiProperty({
    enum: RELATIONSHIPS,
    description: 'Inheritance: heir, legatee, executor, estate-administrator. Disaster: self, legal-representative',
  })
  @IsIn(RELATIONSHIPS)
  relationship: string;

  @ApiProperty({ example: '山田 花子', description: "The applicant's name as on the documents" })
  @IsString(withCode('INVALID_TYPE'))
  @Length(1, 100)
  @HasNoMyNumber()
  name: string;
}

export class EvidenceDto {
  @ApiProperty({
    enum: EVIDENCE_TYPES,
    description:
      'Inheritance needs one of legal-heir-information, resident-record-removal, family-register-attachment-removal',
  })
  @IsIn(EVIDENCE_TYPES)
  type: string;

  @ApiProperty({ example: 'HJ-2026-000123', description: "The document's reference (certificate number, etc.)" })
  @IsString(withCode('INVALID_TYPE'))
  @Length(1, 100)
  @HasNoMyNumber()
  reference: string;
}

export class CreateInquiryDto {
  @ApiProperty({ enum: INQUIRY_KINDS })
  @IsIn(INQUIRY_KINDS)
  kind: InquiryKind;

  @ApiProperty({ example: '001', description: 'Branch where the application was made' })
  @IsBranchCode()
  branchCode: string;

  @ApiProperty({ example: 'T0042' })
  @IsOperatorId()
  operatorId: string;

  @ApiProperty({ type: InquirySubjectDto })
  @IsNestedObject(() => InquirySubjectDto)
  subject: InquirySubjectDto;

  @ApiProperty({ type: ApplicantDto })
  @IsNestedObject(() => ApplicantDto)
  applicant: ApplicantDto;

  @ApiProperty({ type: [EvidenceDto], maxItems: MAX_EVIDENCE })
  @IsArray(withCode('INVALID_TYPE'))
  @ArrayMaxSize(MAX_EVIDENCE, withCode('TOO_MANY'))
  @ValidateNested({ each: true })
  @Type(() => EvidenceDto)
  evidence: EvidenceDto[];

  @ApiPropertyOptional({ format: 'uuid', description: 'Disaster: the declaration relied on (default: any active one covering the municipality)' })
  @IsOptional()
  @IsUUID('all', withCode('INVALID_FORMAT'))
  declarationId?: string;

  @ApiPropertyOptional({
    example: ['0005', '0009'],
    description: 'Institutions to ask (hosted or behind a peer). Default: every one this node knows',
    maxItems: MAX_TARGET_INSTITUTIONS,
  })
  @IsTargetInstitutions()
  targetInstitutions?: string[];
}
