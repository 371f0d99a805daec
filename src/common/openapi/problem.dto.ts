import { ApiProperty } from '@nestjs/swagger';
import { ERROR_CATALOGUE, FIELD_ERROR_CODES } from '../errors/error-codes.js';

export class FieldErrorDto {
  @ApiProperty({ example: 'subject.myNumber' })
  path: string;

  @ApiProperty({ enum: FIELD_ERROR_CODES })
  code: string;

  @ApiProperty({ example: 'subject.myNumber must be 12 digits with a valid check digit' })
  message: string;
}

/** The account a refusal is about (never the number of the depositor). */
export class ProblemAccountDto {
  @ApiProperty({ example: '001' })
  branchCode: string;

  @ApiProperty({ enum: ['ordinary', 'current', 'savings', 'other'], example: 'ordinary' })
  accountType: string;

  @ApiProperty({ example: '0012345' })
  accountNumber: string;
}

/** RFC 9457 problem details as this API sends them. */
export class ProblemDto {
  @ApiProperty({ example: 'urn:kouza-hub:problem:validation-failed' })
  type: string;

  @ApiProperty({ example: 'The request is invalid' })
  title: string;

  @ApiProperty({ example: 422 })
  status: number;

  @ApiProperty({ enum: Object.keys(ERROR_CATALOGUE), description: 'Stable machine code' })
  code: string;

  @ApiProperty({ required: false })
  detail?: string;

  @ApiProperty({ required: false, description: 'Quote it when reporting a problem' })
  requestId?: string;

  @ApiProperty({ type: [FieldErrorDto], required: false, description: 'For validation failures' })
  errors?: FieldErrorDto[];

  @ApiProperty({
    type: ProblemAccountDto,
    required: false,
    description: 'The account refused (`ACCOUNT_LINKED_TO_OTHER_SUBJECT`, `ACCOUNT_NOT_IN_REGISTER`, `ACCOUNT_CLOSED`, `ACCOUNT_HOLDER_MISMATCH`)',
  })
  account?: ProblemAccountDto;

  @ApiProperty({ type: [String], required: false, description: 'The institution codes not known here (`UNKNOWN_INSTITUTION`)', example: ['9999'] })
  unknown?: string[];

  @ApiProperty({ required: false, description: 'The institution named (`TARGET_IS_REQUESTER`)', example: '0005' })
  institution?: string;

  @ApiProperty({ required: false, description: 'Why the peer keys were not taken (`PEER_KEYS_UNAVAILABLE`)', example: 'wrong-node-id' })
  reason?: string;

  @ApiProperty({
    type: [Number],
    required: false,
    description: 'The node-to-node protocol versions this node speaks (`PEER_PROTOCOL_VERSION_UNSUPPORTED`)',
    example: [2],
  })
  supportedVersions?: number[];

  @ApiProperty({
    type: [String],
    required: false,
    description: 'Origin institutions not registered behind the sending node (`PEER_ORIGIN_NOT_REGISTERED`)',
    example: ['0005'],
  })
  origins?: string[];

  @ApiProperty({
    required: false,
    description: 'Where in a peer message the refused member is, as a JSON path (`PEER_DECEASED_CLAIM_REFUSED`)',
    example: '$.queries[0].deceased',
  })
  path?: string;
}
