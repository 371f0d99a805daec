import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ACCOUNT_TYPES } from '../../linkages/linkage.types.js';
import { INQUIRY_KINDS, INQUIRY_STATUSES, RESULT_STATUSES } from '../inquiry.types.js';

export class AcceptedInquiryView {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: INQUIRY_STATUSES, example: 'queued' })
  status: string;
}

export class InquiryProgressView {
  @ApiProperty({ description: 'Institutions asked' })
  total: number;

  @ApiProperty({ description: 'Institutions whose node answered (found or not-found)' })
  answered: number;

  @ApiProperty({ description: 'Institutions whose node stayed unreachable' })
  failed: number;
}

export class LocatedAccountView {
  @ApiProperty({ example: '001' })
  branchCode: string;

  @ApiProperty({ enum: ACCOUNT_TYPES })
  accountType: string;

  @ApiProperty({ example: '0012345' })
  accountNumber: string;
}

export class InquiryResultView {
  @ApiProperty({ example: '0005' })
  institutionCode: string;

  @ApiProperty()
  institutionName: string;

  @ApiProperty({ enum: RESULT_STATUSES })
  status: string;

  @ApiProperty({
    type: [LocatedAccountView],
    description: 'Accounts held (found only); empty once the retention period has purged the results',
  })
  accounts: LocatedAccountView[];
}

export class InquiryView {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: INQUIRY_KINDS })
  kind: string;

  @ApiProperty({ enum: INQUIRY_STATUSES })
  status: string;

  @ApiProperty({ example: '001' })
  branchCode: string;

  @ApiProperty({ type: InquiryProgressView })
  progress: InquiryProgressView;

  @ApiProperty({ type: [InquiryResultView] })
  results: InquiryResultView[];

  @ApiPropertyOptional({ nullable: true, type: String, description: 'Why the inquiry was rejected' })
  rejectionReason: string | null;

  @ApiProperty()
  createdAt: Date;

  @ApiProperty({ description: 'Nodes that have not answered by then are unreachable' })
  deadlineAt: Date;

  @ApiProperty({ nullable: true, type: Date })
  completedAt: Date | null;

  @ApiProperty({ nullable: true, type: Date, description: 'When the account lists were purged (retention)' })
  resultsPurgedAt: Date | null;
}

export class InquirySummaryView extends AcceptedInquiryView {
  @ApiProperty({ enum: INQUIRY_KINDS })
  kind: string;

  @ApiProperty({ example: '001' })
  branchCode: string;

  @ApiProperty({ nullable: true, type: String, description: 'Why the inquiry was rejected' })
  rejectionReason: string | null;

  @ApiProperty()
  createdAt: Date;

  @ApiProperty({ description: 'Nodes that have not answered by then are unreachable' })
  deadlineAt: Date;

  @ApiProperty({ nullable: true, type: Date })
  completedAt: Date | null;

  @ApiProperty({ nullable: true, type: Date, description: 'When the account lists were purged (retention)' })
  resultsPurgedAt: Date | null;
}

export class InquiryListView {
  @ApiProperty({ type: [InquirySummaryView] })
  items: InquirySummaryView[];
}
