import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsDefined, IsString, Length } from 'class-validator';
import { HasNoMyNumber, IsIsoDateTime, IsMunicipalityCode, withCode } from '../../common/validation/validators.js';

export const MAX_MUNICIPALITIES = 2000;

export class CreateDisasterDeclarationDto {
  @ApiProperty({ example: '令和8年能登半島豪雨', description: 'The disaster, as the Disaster Relief Act declaration names it' })
  @IsString(withCode('INVALID_TYPE'))
  @Length(1, 200)
  @HasNoMyNumber()
  name: string;

  @ApiProperty({
    example: ['172049', '17205'],
    description: 'JIS X 0402 municipality codes where the Act applies: 6 digits with check digit, or 5 without',
    minItems: 1,
    maxItems: MAX_MUNICIPALITIES,
  })
  @IsArray(withCode('INVALID_TYPE'))
  @ArrayMinSize(1, withCode('TOO_FEW'))
  @ArrayMaxSize(MAX_MUNICIPALITIES, withCode('TOO_MANY'))
  @ArrayUnique(undefined, withCode('DUPLICATE'))
  @IsMunicipalityCode({ each: true })
  municipalityCodes: string[];

  @ApiProperty({ example: '2026-07-01T00:00:00+09:00' })
  @IsDefined()
  @IsIsoDateTime()
  startsAt: string;

  @ApiProperty({ example: '2027-06-30T23:59:59+09:00', description: 'After startsAt' })
  @IsDefined()
  @IsIsoDateTime()
  endsAt: string;
}

export class DisasterDeclarationDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  name: string;

  @ApiProperty({ description: 'Five-digit JIS X 0402 codes (check digit dropped)', example: ['17204', '17205'] })
  municipalityCodes: string[];

  @ApiProperty()
  startsAt: Date;

  @ApiProperty()
  endsAt: Date;

  @ApiProperty({ description: 'Whether the declaration is in force now' })
  active: boolean;

  @ApiProperty()
  createdAt: Date;
}

export class DisasterDeclarationListDto {
  @ApiProperty({ type: [DisasterDeclarationDto] })
  items: DisasterDeclarationDto[];
}
