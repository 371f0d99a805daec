import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { IsListLimit } from '../../common/validation/list-limit.js';
import { ROTATION_KINDS, ROTATION_STATUSES, type RotationKind, type RotationStatus } from '../key-rotation-runner.js';

export class StartKeyRotationDto {
  @ApiProperty({
    enum: ROTATION_KINDS,
    description:
      'blind-index: re-index every row under BLIND_INDEX_ACTIVE_VERSION; master-key: re-wrap every data key and webhook secret under MASTER_KEY_ACTIVE_ID',
  })
  @IsIn(ROTATION_KINDS)
  kind!: RotationKind;
}

export class ListKeyRotationsQuery {
  @IsListLimit()
  limit?: number;
}

export class KeyRotationProgressView {
  @ApiProperty({ description: 'Rows under another key when the rotation started' }) total!: number;
  @ApiProperty({ description: 'Rows moved so far' }) done!: number;
  @ApiProperty({ nullable: true, type: String, description: 'The table being worked through' }) phase!: string | null;
}

export class KeyRotationView {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ROTATION_KINDS }) kind!: RotationKind;
  @ApiProperty({ description: 'The key rows are moved to: a blind-index version, or a master key id' }) target!: string;
  @ApiProperty({ enum: ROTATION_STATUSES }) status!: RotationStatus;
  @ApiProperty({ enum: ['api', 'cli'] }) source!: 'api' | 'cli';
  @ApiProperty({ type: KeyRotationProgressView }) progress!: KeyRotationProgressView;
  @ApiProperty({ description: 'Rows moved, per table', type: 'object', additionalProperties: { type: 'number' } })
  moved!: Record<string, number>;
  @ApiPropertyOptional({
    description: 'When completed: rows still under an old key, per table (see the README, key management)',
    type: 'object',
    additionalProperties: { type: 'number' },
  })
  remaining?: Record<string, number>;
  @ApiProperty({ description: 'How many times a worker took the rotation up (more than 1: it resumed)' }) runs!: number;
  @ApiPropertyOptional() error?: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;
}

export class KeyRotationListView {
  @ApiProperty({ type: [KeyRotationView] }) items!: KeyRotationView[];
}
