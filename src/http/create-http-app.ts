import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppModule, AppModuleOptions } from '../app.module.js';
import { DomainError } from '../common/errors/domain-error.js';
import { ProblemFilter, sendProblem, toProblem } from '../common/errors/problem.filter.js';
import { containsMyNumberLike } from '../common/my-number/my-number.js';
import { createValidationPipe } from '../common/validation/validation.pipe.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { JOSE_MEDIA_TYPE } from '../peers/peer-client.js';
import { requestBodyKind } from './request-body.js';
import { PeerInboundService } from '../peers/peer-inbound.service.js';
import { separateOperationsSurface } from './operations-listener.js';
import { useBoundedJsonParser } from './json-body.js';
import { createOpenApiDocument } from './openapi-document.js';
import { mountQueueDashboard } from './queue-dashboard.js';

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
const JOSE_BODY = /^application\/jose\s*(;|$)/i;
const REGISTER_BODY = /^(text\/csv|application\/x-ndjson)\s*(;|$)/i;

/** A UUID without a 12-digit run, so that log redaction never mangles it. */
function newRequestId(): string {
  for (;;) {
    const id = randomUUID();
    if (!containsMyNumberLike(id)) return id;
  }
}

/**
 * Builds the HTTP application exactly as production runs it; main.ts and the e2e
 * tests both call this.
 */
export async function createHttpApp(options: AppModuleOptions): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    logger: false,
    bodyLimit: options.config.BODY_LIMIT_BYTES,
    // A caller's X-Request-Id is kept when it is harmless; it is echoed in answers.
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) && !containsMyNumberLike(given)
        ? given
        : newRequestId();
    },
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(options), adapter, {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.useGlobalPipes(createValidationPipe());
  const errorLog = await app.resolve(PinoLogger);
  errorLog.setContext('Errors');
  app.useGlobalFilters(new ProblemFilter(errorLog));
  app.enableShutdownHooks();

  const fastify = app.getHttpAdapter().getInstance();
  // First of all hooks: with OPS_PORT, /metrics, /queues and /docs on that listener only.
  if (options.config.OPS_PORT !== undefined) separateOperationsSurface(fastify);
  const metrics = app.get(MetricsService);
  const peerInbound = app.get(PeerInboundService);
  // JSON bodies: depth, array length and duplicate names bounded before parsing.
  useBoundedJsonParser(app, { maxDepth: options.config.JSON_MAX_DEPTH, maxArrayItems: options.config.JSON_MAX_ARRAY_ITEMS });
  // Node-to-node messages are compact JWEs (text), read whole for the envelope's checks.
  fastify.addContentTypeParser(
    JOSE_MEDIA_TYPE,
    { parseAs: 'string', bodyLimit: options.config.PEER_BODY_LIMIT_BYTES },
    (_request, body, done) => done(null, body),
  );
  // Register files: the raw stream, spooled by the route as it arrives (never whole in
  // memory); its size limit is REGISTER_UPLOAD_LIMIT_BYTES, counted by the route.
  fastify.addContentTypeParser(['text/csv', 'application/x-ndjson'], (_request, payload, done) => done(null, payload));
  // JSON only: anything else with a body is refused before parsing. The peer
  // routes take application/jose only, and refuse anything else as they refuse any bad message.
  fastify.addHook('onRequest', async (request, reply) => {
    const hasBody = request.headers['content-length'] !== undefined ? request.headers['content-length'] !== '0' : request.headers['transfer-encoding'] !== undefined;
    const type = request.headers['content-type'] ?? '';
    const kind = requestBodyKind(request);
    if (kind === 'jose') {
      if (!JOSE_BODY.test(type)) {
        sendProblem(reply, toProblem(peerInbound.refuse('not-jose', request.id), request.id));
        return reply;
      }
      return;
    }
    if (kind === 'register') {
      if (!REGISTER_BODY.test(type)) {
        sendProblem(reply, toProblem(new DomainError('UNSUPPORTED_MEDIA_TYPE', 'The register is sent as text/csv or application/x-ndjson'), request.id));
        return reply;
      }
      return;
    }
    if (hasBody && !/^application\/json\s*(;|$)/i.test(type)) {
      sendProblem(reply, toProblem(new DomainError('UNSUPPORTED_MEDIA_TYPE'), request.id));
      return reply;
    }
  });
  await mountQueueDashboard(app, options.config);
  fastify.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });


  const document = createOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
