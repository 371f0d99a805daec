import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ERROR_CATALOGUE, ErrorCode } from '../errors/error-codes.js';
import { ProblemDto } from './problem.dto.js';

/**
 * Documents the problem+json answers of a route, grouped by status, each code with
 * its title, so /docs lists every code a client may meet.
 */
export function ApiProblems(...codes: ErrorCode[]): MethodDecorator & ClassDecorator {
  // A route that reads a body can also meet the body parser's refusals.
  const body: ErrorCode[] = codes.includes('MALFORMED_JSON') ? ['JSON_LIMIT_EXCEEDED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] : [];
  const all: ErrorCode[] = [...new Set<ErrorCode>([...codes, ...body, 'INTERNAL_ERROR', 'DATABASE_UNAVAILABLE'])];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of all) {
    const status = ERROR_CATALOGUE[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus.entries()].map(([status, list]) =>
      ApiResponse({
        status,
        description: list.map((c) => `\`${c}\`: ${ERROR_CATALOGUE[c].title}`).join('; '),
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemDto' } } },
      }),
    ),
  );
}

export { ProblemDto };
