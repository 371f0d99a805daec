import { ApiProperty } from '@nestjs/swagger';
import { ACCOUNT_TYPES, REVOCATION_REASONS } from '../linkage.types.js';
import { DEATH_EVIDENCE } from '../../inquiries/inquiry.types.js';

export class SubjectView {
  @ApiProperty({ format: 'uuid', description: "The depositor's record at this institution" })
  id: string;

  @ApiProperty({ example: '********9018' })
  myNumberMasked: string;

  @ApiProperty({ example: 'ﾔﾏﾀﾞ ﾀﾛｳ', description: 'Zengin half-width form' })
  nameKana: string;

  @ApiProperty({ example: '1980-04-01', format: 'date' })
  birthDate: string;
}

export class RevocationView {
  @ApiProperty({ enum: REVOCATION_REASONS })
  reason: string;

  @ApiProperty({ nullable: true, type: String })
  note: string | null;

  @ApiProperty()
  branchCode: string;

  @ApiProperty()
  operatorId: string;

  @ApiProperty()
  revokedAt: Date;
}

export class DeathEvidenceView {
  @ApiProperty({ enum: DEATH_EVIDENCE })
  type: string;

  @ApiProperty({ example: 'HJ-2026-000123' })
  reference: string;
}

export class HolderDeceasedView {
  @ApiProperty({ description: 'When an inheritance inquiry (here or at a peer node) reported the holder deceased' })
  reportedAt: Date;

  @ApiProperty({
    format: 'date',
    example: '2026-10-01',
    nullable: true,
    type: String,
    description: 'As the inheritance inquiry stated it (here, or in the peer node\'s query); null only for reports older than protocol version 2',
  })
  dateOfDeath: string | null;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'The inheritance inquiry made here that reported it' })
  inquiryId: string | null;

  @ApiProperty({
    nullable: true,
    type: String,
    description: 'The peer node whose inheritance query reported it (the death is as that node reported it, not verified here)',
  })
  reportedByNode: string | null;

  @ApiProperty({ type: [DeathEvidenceView], description: 'The documents the report cited (empty for reports older than protocol version 2)' })
  evidence: DeathEvidenceView[];
}

export class LinkedAccountView {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  branchCode: string;

  @ApiProperty({ enum: ACCOUNT_TYPES })
  accountType: string;

  @ApiProperty()
  accountNumber: string;

  @ApiProperty({ enum: ['active', 'revoked'] })
  status: string;

  @ApiProperty()
  createdAt: Date;
}

export class AttachedAccountView extends LinkedAccountView {
  @ApiProperty({ description: 'True when the account was already linked to this number (nothing new was created)' })
  alreadyLinked: boolean;
}

export class AttachmentView {
  @ApiProperty({ format: 'uuid', description: 'The attachment: this act of numbering, with its verification and consent' })
  id: string;

  @ApiProperty({ type: SubjectView })
  subject: SubjectView;

  @ApiProperty({ type: [AttachedAccountView] })
  linkages: AttachedAccountView[];
}

export class LinkageView extends LinkedAccountView {
  @ApiProperty({ format: 'uuid' })
  attachmentId: string;

  @ApiProperty({ type: SubjectView })
  subject: SubjectView;

  @ApiProperty({ type: RevocationView, nullable: true })
  revocation: RevocationView | null;

  @ApiProperty({ type: HolderDeceasedView, nullable: true, description: 'Set when an inheritance inquiry found this account' })
  holderDeceased: HolderDeceasedView | null;
}

export class LinkageListView {
  @ApiProperty({ type: [LinkageView] })
  items: LinkageView[];
}
