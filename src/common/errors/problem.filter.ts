import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CiphertextMismatchError } from '../../crypto/my-number-cipher.js';
import { isDatabaseUnavailable } from '../../database/pg-errors.js';
import { DomainError } from './domain-error.js';
import type { ErrorCode } from './error-codes.js';
import { buildProblem, Problem, PROBLEM_CONTENT_TYPE } from './problem.js';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
}

/** Fastify's own errors (body parsing, routing) and the code each becomes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

const HTTP_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'MALFORMED_JSON',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN_SCOPE',
  404: 'ROUTE_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Where a failed request is logged: the application's own pino logger, never Nest's process-wide one. */
export interface ProblemLog {
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Maps anything thrown to problem+json. Internal details never leave the process: a
 * 500 says only "Internal error" and the request id to quote; a parse error never
 * repeats the body it could not read (Node's JSON errors quote the input).
 */
export function toProblem(error: unknown, requestId?: string): Problem {
  if (error instanceof DomainError) {
    return buildProblem(error.code, error.detail, error.extra, requestId);
  }
  const fastifyCode = (error as FastifyLikeError)?.code;
  if (fastifyCode && FASTIFY_CODES[fastifyCode]) {
    return buildProblem(FASTIFY_CODES[fastifyCode], undefined, {}, requestId);
  }
  if (error instanceof SyntaxError || (error as FastifyLikeError)?.statusCode === 400) {
    return buildProblem('MALFORMED_JSON', undefined, {}, requestId);
  }
  if (error instanceof HttpException) {
    const code = HTTP_CODES[error.getStatus()];
    if (code) return buildProblem(code, undefined, {}, requestId);
  }
  if (isDatabaseUnavailable(error)) {
    return buildProblem('DATABASE_UNAVAILABLE', undefined, {}, requestId);
  }
  // A ciphertext that does not open for its row (moved from another row, altered):
  // the read fails closed, the answer names no row and no value.
  if (error instanceof CiphertextMismatchError) {
    return buildProblem('RECORD_INTEGRITY_FAILED', 'Quote the request id when reporting this.', {}, requestId);
  }
  return buildProblem('INTERNAL_ERROR', 'Quote the request id when reporting this.', {}, requestId);
}

export function sendProblem(reply: FastifyReply, problem: Problem): void {
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  if (problem.status === HttpStatus.SERVICE_UNAVAILABLE) headers['retry-after'] = '5';
  void reply.status(problem.status).headers(headers).send(problem);
}

export function logProblem(log: ProblemLog, error: unknown, problem: Problem): void {
  if (problem.status >= 500) {
    // The logger's redaction removes any 12-digit run from what is printed.
    log.error({ err: error, code: problem.code, requestId: problem.requestId }, 'request failed');
  }
}

/**
 * The one place an error becomes an answer. It logs through the logger it is given (the
 * application's pino logger): Nest's static Logger is one per process, and another Nest
 * context in the same process (a worker started with `logger: false`) silenced it.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly log: ProblemLog) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = toProblem(error, request?.id);
    logProblem(this.log, error, problem);
    if (error instanceof DomainError) void reply.headers(error.headers);
    sendProblem(reply, problem);
  }
}
