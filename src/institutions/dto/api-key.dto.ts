import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsString, Length } from 'class-validator';
import { INSTITUTION_SCOPES } from '../../auth/scopes.js';
import { HasNoMyNumber } from '../../common/validation/validators.js';

export class CreateApiKeyDto {
  @ApiProperty({ example: 'teller-system-tokyo' })
  @IsString()
  @Length(1, 100)
  @HasNoMyNumber()
  name: string;

  @ApiProperty({ enum: INSTITUTION_SCOPES, isArray: true, example: ['linkages:write', 'linkages:read'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(INSTITUTION_SCOPES.length)
  @ArrayUnique()
  @IsIn(INSTITUTION_SCOPES, { each: true })
  scopes: string[];
}

export class ApiKeyParams {
  @IsString()
  code: string;

  @IsString()
  id: string;
}

export class ApiKeyDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  name: string;

  @ApiProperty({ description: 'First characters of the key, to tell keys apart', example: 'kh_Zt3x9Q' })
  prefix: string;

  @ApiProperty({ enum: INSTITUTION_SCOPES, isArray: true })
  scopes: string[];

  @ApiProperty()
  createdAt: Date;

  @ApiProperty({ nullable: true, type: Date })
  revokedAt: Date | null;
}

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ description: 'The secret: shown this once, stored only as a hash' })
  key: string;
}

export class ApiKeyListDto {
  @ApiProperty({ type: [ApiKeyDto] })
  items: ApiKeyDto[];
}
