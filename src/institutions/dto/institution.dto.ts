import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUrl, Length, Matches } from 'class-validator';
import { HasNoMyNumber } from '../../common/validation/validators.js';

export class CreateInstitutionDto {
  @ApiProperty({ example: '0005', description: 'Zengin institution code, 4 digits' })
  @IsString()
  @Matches(/^[0-9]{4}$/, { message: 'code must be 4 digits (Zengin institution code)' })
  code: string;

  @ApiProperty({ example: '三菱ＵＦＪ銀行' })
  @IsString()
  @Length(1, 200)
  @HasNoMyNumber()
  name: string;

  @ApiPropertyOptional({ example: 'https://bank.example/kouza-hub/events', description: 'Where completion webhooks go' })
  @IsOptional()
  @IsUrl({ require_protocol: true, protocols: ['https', 'http'], require_tld: false })
  webhookUrl?: string;
}

export class InstitutionCodeParams {
  @IsString()
  @Matches(/^[0-9]{4}$/, { message: 'code must be 4 digits' })
  code: string;
}

export class InstitutionDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: '0005' })
  code: string;

  @ApiProperty()
  name: string;

  @ApiProperty({ nullable: true, type: String })
  webhookUrl: string | null;

  @ApiProperty()
  createdAt: Date;
}

export class InstitutionListDto {
  @ApiProperty({ type: [InstitutionDto] })
  items: InstitutionDto[];
}
