import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ERROR_CATALOGUE, ErrorCode } from '../errors/error-codes.js';
import { ProblemDto } from './problem.dto.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/**
 * The schema of a problem answer that may carry only these codes: the shared problem
 * schema, its `code` narrowed to the list (validators and generated clients read it).
 */
export function problemSchema(codes: readonly string[]): Record<string, unknown> {
  return {
    allOf: [{ $ref: '#/components/schemas/ProblemDto' }, { type: 'object', properties: { code: { type: 'string', enum: [...codes] } } }],
  };
}

/** The description of a problem answer: each code with its title. */
export function problemDescription(codes: readonly string[]): string {
  return codes.map((c) => `\`${c}\`: ${ERROR_CATALOGUE[c as ErrorCode].title}`).join('; ');
}

/**
 * Documents the problem+json answers of a route, grouped by status, each code with
 * its title, so /docs lists every code a client may meet (and the e2e suite holds
 * every answer to that list). Codes every authenticated route may meet
 * (UNAUTHENTICATED, RATE_LIMITED), and every route reading a JSON body (the body
 * parser's MALFORMED_JSON, JSON_LIMIT_EXCEEDED, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE), are added by the document's build
 * (src/http/openapi-document.ts), so a route lists only its own.
 */
export function ApiProblems(...codes: ErrorCode[]): MethodDecorator & ClassDecorator {
  const all: ErrorCode[] = [...new Set<ErrorCode>([...codes, 'INTERNAL_ERROR', 'DATABASE_UNAVAILABLE'])];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of all) {
    const status = ERROR_CATALOGUE[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus.entries()].map(([status, list]) =>
      ApiResponse({
        status,
        description: problemDescription(list),
        content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema(list) } },
      }),
    ),
  );
}

export { ProblemDto };
