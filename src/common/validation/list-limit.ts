import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { withCode } from './validators.js';

export const MAX_LIST_LIMIT = 200;
export const DEFAULT_LIST_LIMIT = 50;

/**
 * `?limit=` of a list endpoint: 1 to MAX_LIST_LIMIT items (DEFAULT_LIST_LIMIT when
 * absent, which the caller applies). A query string's digits are read as a number;
 * anything else stays as sent and fails as INVALID_TYPE.
 */
export const IsListLimit = () =>
  applyDecorators(
    ApiPropertyOptional({ minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT }),
    IsOptional(),
    Transform(({ value }) => (typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value)),
    IsInt(withCode('INVALID_TYPE')),
    Min(1),
    Max(MAX_LIST_LIMIT),
  );
