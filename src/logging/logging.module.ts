import { DynamicModule, Module, RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino, { type DestinationStream } from 'pino';
import { containsMyNumberLike, redactMyNumbers, urlDecoded } from '../common/my-number/my-number.js';
import { AppConfig } from '../config/app-config.js';
import { redactingDestination } from './redacting-destination.js';

/**
 * Errors as logged: what and where, never the query parameters a driver error
 * carries (ciphertexts, blind indexes, names). pino-http hands this serializer the
 * error already through pino's standard one (a plain object of `type`, `message`,
 * `stack` and every enumerable property, `parameters` included): both shapes are read,
 * and only the fields below are kept.
 */
export function serializeError(err: unknown): Record<string, unknown> {
  if (err === null || typeof err !== 'object') return { message: String(err) };
  const e = err as { name?: unknown; type?: unknown; message?: unknown; code?: unknown; query?: unknown; stack?: unknown; driverError?: { code?: unknown } };
  if (!(err instanceof Error) && typeof e.message !== 'string') return { message: String(err) };
  return {
    type: err instanceof Error ? err.name : typeof e.type === 'string' ? e.type : undefined,
    message: e.message,
    code: e.code ?? e.driverError?.code,
    query: typeof e.query === 'string' ? e.query.replace(/\s+/g, ' ').slice(0, 500) : undefined,
    stack: typeof e.stack === 'string' ? e.stack : undefined,
  };
}

/**
 * A request URL as logged. A number typed into a query (`?q=１２３４ ５６７８ ９０１８`)
 * reaches the log percent-encoded, where the line's redaction cannot see it: when the
 * decoded URL (a `+` read as a space, as forms send it) holds one, the decoded URL is
 * logged, redacted; any other URL as it came.
 */
export function loggedUrl(url: string): string {
  const decoded = urlDecoded(url);
  return containsMyNumberLike(decoded) ? redactMyNumbers(decoded) : url;
}

/**
 * pino for the API (request logs) and the worker. Headers are not logged but for
 * a few harmless ones; every line is redacted on output.
 */
@Module({})
export class LoggingModule {
  static forRoot(destination?: DestinationStream): DynamicModule {
    return LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        // Every route. Not nestjs-pino's default (`{/*splat}`): the Fastify adapter hands that
        // path to @fastify/middie, which matches it against `/` only, so no request was logged.
        forRoutes: [{ path: '{*splat}', method: RequestMethod.ALL }],
        pinoHttp: [
          {
            level: config.LOG_LEVEL,
            base: { service: 'kouza-hub' },
            timestamp: pino.stdTimeFunctions.isoTime,
            genReqId: (req: { id?: unknown }) => String(req.id),
            customLogLevel: (_req: unknown, res: { statusCode: number }, err?: unknown) =>
              err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
            serializers: {
              req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
                id: req.id,
                method: req.method,
                url: loggedUrl(req.url),
                remoteAddress: req.remoteAddress,
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
              err: serializeError,
            },
            redact: { paths: ['req.headers', 'res.headers', '*.authorization', '*.myNumber'], censor: '[redacted]' },
          },
          redactingDestination(destination ?? pino.destination({ dest: 1, sync: false })),
        ],
      }),
    });
  }
}
