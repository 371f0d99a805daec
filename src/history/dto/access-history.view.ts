import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { HISTORY_ACTIONS, HISTORY_PURPOSES } from '../history-actions.js';

export class HistoryInstitutionView {
  @ApiProperty({ example: '0005' })
  code: string;

  @ApiProperty()
  name: string;
}

export class HistoryReferenceView {
  @ApiProperty({ enum: ['linkage', 'attachment', 'inquiry', 'numbering-request'] })
  type: string;

  @ApiProperty({ format: 'uuid' })
  id: string;
}

export class HistoryRequestedAtView {
  @ApiProperty({ example: '0009', description: 'The institution where the request was made (hosted here or behind a peer)' })
  institutionCode: string;

  @ApiProperty({ example: '001' })
  branchCode: string;
}

export class AccessHistoryItemView {
  @ApiProperty({ format: 'date-time' })
  at: string;

  @ApiProperty({ type: HistoryInstitutionView, nullable: true, description: 'The hosted institution that acted or was acted on' })
  institution: HistoryInstitutionView | null;

  @ApiPropertyOptional({ example: '001' })
  branchCode?: string;

  @ApiProperty({ enum: ['institution', 'peer', 'system', 'operator'] })
  actor: string;

  @ApiPropertyOptional({ description: 'The peer node that asked (actor peer)' })
  peerNodeId?: string;

  @ApiProperty({ enum: HISTORY_ACTIONS })
  action: string;

  @ApiProperty({ enum: HISTORY_PURPOSES })
  purpose: string;

  @ApiPropertyOptional({
    type: HistoryRequestedAtView,
    description:
      'numbering-attached, located-by-inquiry, reported-deceased: where the request was made (`institution` is where the accounts are)',
  })
  requestedAt?: HistoryRequestedAtView;

  @ApiPropertyOptional({ type: HistoryReferenceView })
  reference?: HistoryReferenceView;
}

export class AccessHistoryView {
  @ApiProperty({ type: [AccessHistoryItemView], description: 'Newest first' })
  items: AccessHistoryItemView[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for older events; null on the last page' })
  nextCursor: string | null;
}
