import { ApiProperty } from '@nestjs/swagger';

export class AuditProblemDto {
  @ApiProperty({ required: false, description: 'Position in the chain' })
  seq?: string;

  @ApiProperty()
  eventId: string;

  @ApiProperty({ enum: ['event-modified', 'event-missing', 'link-modified', 'sequence-gap', 'unsealed'] })
  kind: 'event-modified' | 'event-missing' | 'link-modified' | 'sequence-gap' | 'unsealed';
}

export class AuditVerificationDto {
  @ApiProperty({ description: 'True when the chain is intact and every row older than a minute is sealed' })
  ok: boolean;

  @ApiProperty()
  checkedLinks: number;

  @ApiProperty()
  events: number;

  @ApiProperty({ description: 'Rows older than a minute not yet sealed into the chain' })
  unsealed: number;

  @ApiProperty({ type: [AuditProblemDto], description: 'The first 100 problems found' })
  problems: AuditProblemDto[];
}
