import { ApiProperty } from '@nestjs/swagger';

const PROBLEM_KINDS = [
  'event-modified',
  'event-missing',
  'link-modified',
  'sequence-gap',
  'unsealed',
  'link-downgraded',
  'checkpoint-beyond-chain',
  'checkpoint-mismatch',
] as const;

export class AuditProblemDto {
  @ApiProperty({ required: false, description: 'Position in the chain' })
  seq?: string;

  @ApiProperty({ required: false, description: 'The audit row (absent for checkpoint problems)' })
  eventId?: string;

  @ApiProperty({
    enum: PROBLEM_KINDS,
    description:
      '`link-downgraded`: an unkeyed link after a keyed one; `checkpoint-beyond-chain`: the chain ends before a signed ' +
      'checkpoint (links were cut); `checkpoint-mismatch`: the link at a checkpoint has another hash (the chain was rewritten)',
  })
  kind: (typeof PROBLEM_KINDS)[number];

  @ApiProperty({ required: false, description: 'For checkpoint problems: `file` (the checkpoint log) or `witness:<nodeId>`' })
  source?: string;
}

export class AuditCheckpointCheckedDto {
  @ApiProperty({ description: '`file` (the checkpoint log) or `witness:<nodeId>`' })
  source: string;

  @ApiProperty()
  seq: string;

  @ApiProperty()
  signedAt: string;
}

export class AuditCheckpointSourceDto {
  @ApiProperty()
  source: string;

  @ApiProperty({ description: '`checked`, `none` (it holds no checkpoint of this node), `unreachable`, `refused`, `invalid` …' })
  status: string;
}

export class AuditVerificationDto {
  @ApiProperty({ description: 'True when the chain is intact, agrees with every checkpoint found, and every row older than a minute is sealed' })
  ok: boolean;

  @ApiProperty()
  checkedLinks: number;

  @ApiProperty()
  events: number;

  @ApiProperty({ description: 'Rows older than a minute not yet sealed into the chain' })
  unsealed: number;

  @ApiProperty({ type: [AuditProblemDto], description: 'The first 100 problems found' })
  problems: AuditProblemDto[];

  @ApiProperty({ type: [AuditCheckpointCheckedDto], description: 'The signed checkpoints the chain was checked against' })
  checkpoints: AuditCheckpointCheckedDto[];

  @ApiProperty({ type: [AuditCheckpointSourceDto], description: 'Each place checkpoints were looked for, and its answer' })
  checkpointSources: AuditCheckpointSourceDto[];
}
