import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { applyDecorators } from '@nestjs/common';
import { IsOptional, IsString, IsUrl, Length, Matches, MaxLength } from 'class-validator';
import { HasNoMyNumber } from '../../common/validation/validators.js';

/** Where an institution's webhooks go: an absolute http(s) URL (private hosts allowed: banks' networks are). */
const IsWebhookUrl = () =>
  applyDecorators(
    IsString(),
    MaxLength(2000),
    IsUrl({ require_protocol: true, protocols: ['https', 'http'], require_tld: false }),
    HasNoMyNumber(),
  );

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

  @ApiPropertyOptional({
    example: 'https://bank.example/kouza-hub/events',
    description: 'Where completion webhooks go; the signing secret is answered once, as `webhookSecret`',
  })
  @IsOptional()
  @IsWebhookUrl()
  webhookUrl?: string;
}

export class SetWebhookDto {
  @ApiProperty({ example: 'https://bank.example/kouza-hub/events' })
  @IsWebhookUrl()
  url: string;
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

  @ApiProperty({
    nullable: true,
    type: Date,
    description: 'When the receiver answered 410 Gone and the webhook was disabled; setting the URL again (the same one included) enables it.',
  })
  webhookDisabledAt: Date | null;

  @ApiProperty()
  createdAt: Date;
}

export class InstitutionWithSecretDto extends InstitutionDto {
  @ApiPropertyOptional({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=',
    description:
      'The webhook signing secret (Standard Webhooks format), present when one was just generated: shown this once. ' +
      'Verify `webhook-signature` with it.',
  })
  webhookSecret?: string;
}

export class InstitutionListDto {
  @ApiProperty({ type: [InstitutionDto] })
  items: InstitutionDto[];
}
