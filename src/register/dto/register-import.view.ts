import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { IsListLimit } from '../../common/validation/list-limit.js';

export const IMPORT_STATUSES = ['queued', 'running', 'completed', 'failed', 'refused'] as const;

export class RegisterImportQuery {
  @ApiProperty({ enum: ['full', 'delta'], description: 'full: accounts missing from the file become closed; delta: upsert only' })
  @IsIn(['full', 'delta'])
  mode!: 'full' | 'delta';
}

export class ListRegisterImportsQuery {
  @IsListLimit()
  limit?: number;
}

export class RegisterImportProgressView {
  @ApiProperty() bytesRead!: number;
  @ApiProperty({ nullable: true, type: Number }) bytesTotal!: number | null;
  @ApiProperty() rowsRead!: number;
  @ApiProperty() rowsPerSecond!: number;
}

export class RegisterImportCountsView {
  @ApiProperty() inserted!: number;
  @ApiProperty() updated!: number;
  @ApiProperty() closed!: number;
  @ApiProperty() unchanged!: number;
  @ApiProperty({ description: 'Rows not loaded: invalid, or duplicates of an earlier line' }) rejected!: number;
}

export class RegisterImportErrorView {
  @ApiProperty({ description: 'Line of the file where the row starts (the header is line 1)' }) line!: number;
  @ApiPropertyOptional({ description: 'The CSV column name' }) field?: string;
  @ApiProperty() reason!: string;
}

export class RegisterImportView {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: IMPORT_STATUSES }) status!: (typeof IMPORT_STATUSES)[number];
  @ApiProperty({ enum: ['full', 'delta'] }) mode!: string;
  @ApiProperty({ enum: ['csv', 'ndjson'] }) format!: string;
  @ApiProperty({ enum: ['auto', 'utf-8', 'shift_jis'] }) encoding!: string;
  @ApiProperty({ enum: ['cli', 'upload'] }) source!: string;
  @ApiPropertyOptional({ description: 'Why the file was refused or the import failed' }) reason?: string;
  @ApiProperty({ type: RegisterImportProgressView }) progress!: RegisterImportProgressView;
  @ApiPropertyOptional({ type: RegisterImportCountsView, description: 'Once completed' }) counts?: RegisterImportCountsView;
  @ApiProperty({ type: [RegisterImportErrorView], description: 'The first REGISTER_IMPORT_MAX_ERRORS row errors' })
  errors!: RegisterImportErrorView[];
  @ApiProperty() createdAt!: string;
  @ApiPropertyOptional() startedAt?: string;
  @ApiPropertyOptional() completedAt?: string;
}

export class RegisterImportListView {
  @ApiProperty({ type: [RegisterImportView] }) items!: RegisterImportView[];
}
