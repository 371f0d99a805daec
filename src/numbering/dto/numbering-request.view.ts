import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { INQUIRY_STATUSES } from '../../inquiries/inquiry.types.js';
import { NUMBERING_TARGET_STATUSES } from '../numbering.types.js';

export class AcceptedNumberingRequestView {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: INQUIRY_STATUSES, example: 'queued' })
  status: string;
}

export class NumberingProgressView {
  @ApiProperty({ description: 'Target institutions' })
  total: number;

  @ApiProperty({ description: 'Targets that answered (attached, no-match or ambiguous)' })
  answered: number;

  @ApiProperty({ description: 'Targets whose node stayed unreachable' })
  failed: number;
}

export class NumberingTargetView {
  @ApiProperty({ example: '0005' })
  institutionCode: string;

  @ApiProperty()
  institutionName: string;

  @ApiProperty({
    enum: NUMBERING_TARGET_STATUSES,
    description:
      'attached: the number now rides the depositor\'s open accounts there; no-match: no such depositor; ' +
      'ambiguous: more than one candidate customer, left for a branch to resolve, nothing attached; ' +
      'unreachable: its node never answered; pending: not yet answered',
  })
  status: string;

  @ApiPropertyOptional({ description: 'attached: how many accounts carry the number' })
  accounts?: number;

  @ApiPropertyOptional({ example: 'several-customers', description: "The target's machine reason (no-match, ambiguous)" })
  reason?: string;
}

export class NumberingRequestView {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: INQUIRY_STATUSES, description: 'partial: some target never answered' })
  status: string;

  @ApiProperty({ example: '001' })
  branchCode: string;

  @ApiProperty({ type: NumberingProgressView })
  progress: NumberingProgressView;

  @ApiProperty({ type: [NumberingTargetView] })
  results: NumberingTargetView[];

  @ApiProperty()
  createdAt: Date;

  @ApiProperty({ description: 'Targets that have not answered by then are unreachable' })
  deadlineAt: Date;

  @ApiProperty({ nullable: true, type: Date })
  completedAt: Date | null;
}

export class NumberingRequestSummaryView extends AcceptedNumberingRequestView {
  @ApiProperty()
  createdAt: Date;

  @ApiProperty({ nullable: true, type: Date })
  completedAt: Date | null;
}

export class NumberingRequestListView {
  @ApiProperty({ type: [NumberingRequestSummaryView] })
  items: NumberingRequestSummaryView[];
}
