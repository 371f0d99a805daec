import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsOptional, IsString, Length, Matches } from 'class-validator';
import {
  HasNoMyNumber,
  IsNestedObject,
  withCode,
} from '../../common/validation/validators.js';
import { IsTargetInstitutions, MAX_TARGET_INSTITUTIONS } from '../../inquiries/dto/create-inquiry.dto.js';
import { SubjectDto, VerificationDto } from '../../linkages/dto/create-linkage.dto.js';
import { IsBranchCode, IsConsentAt, IsOperatorId } from '../../linkages/dto/field-rules.js';
import { MAX_ADDRESS_LENGTH } from '../../peers/peer-messages.js';

/** A linkage's subject and what the targets also match on: the address (and postal code). */
export class NumberingSubjectDto extends SubjectDto {
  @ApiProperty({
    example: '東京都千代田区千代田1-1',
    maxLength: MAX_ADDRESS_LENGTH,
    description: 'As on the identity document; targets compare it normalised (width, spaces, common variants)',
  })
  @IsDefined()
  @IsString(withCode('INVALID_TYPE'))
  @Length(1, MAX_ADDRESS_LENGTH)
  @HasNoMyNumber()
  address: string;

  @ApiPropertyOptional({ example: '100-0001', description: '7 digits, with or without the hyphen; recorded with the request' })
  @IsOptional()
  @IsString(withCode('INVALID_TYPE'))
  @Matches(/^[0-9]{3}-?[0-9]{4}$/, withCode('INVALID_FORMAT', { message: '$property must be 7 digits (123-4567)' }))
  postalCode?: string;
}

export class CreateNumberingRequestDto {
  @ApiProperty({ example: '001', description: 'Branch where the depositor applied' })
  @IsBranchCode()
  branchCode: string;

  @ApiProperty({ example: 'T0042', description: "The teller's id, for the audit trail (here and at the targets)" })
  @IsOperatorId()
  operatorId: string;

  @ApiProperty({ type: NumberingSubjectDto })
  @IsNestedObject(() => NumberingSubjectDto)
  subject: NumberingSubjectDto;

  @ApiProperty({ type: VerificationDto, description: 'The verification done at the branch, relied on by the targets' })
  @IsNestedObject(() => VerificationDto)
  verification: VerificationDto;

  @IsConsentAt()
  consentAt: string;

  @ApiPropertyOptional({
    example: ['0005', '0009'],
    description:
      'Institutions at which to number (hosted or behind a peer), never the requesting one. ' +
      'Default: every one this node knows except the requesting institution',
    maxItems: MAX_TARGET_INSTITUTIONS,
  })
  @IsTargetInstitutions()
  targetInstitutions?: string[];
}
