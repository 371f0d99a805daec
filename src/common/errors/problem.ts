import { ERROR_CATALOGUE, ErrorCode } from './error-codes.js';

/** RFC 9457 problem details, with the stable machine `code` clients branch on. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  requestId?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function problemType(code: ErrorCode): string {
  return `urn:kouza-hub:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

export function buildProblem(
  code: ErrorCode,
  detail: string | undefined,
  extra: Record<string, unknown> = {},
  requestId?: string,
): Problem {
  const { status, title } = ERROR_CATALOGUE[code];
  return { type: problemType(code), title, status, code, ...(detail ? { detail } : {}), ...extra, requestId };
}
