import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';

/**
 * What a route's request body is. JSON unless the route says otherwise with
 * `@AcceptsBody(...)`: the content-type gate in create-http-app reads it from the
 * matched route's own configuration, so that a new route of either kind needs only the
 * decorator, never a list to keep in step.
 * - `jose`: a node-to-node message, a compact JWE (`application/jose`); anything else is
 *   refused as any bad message is.
 * - `register`: an account register file (`text/csv` or `application/x-ndjson`), streamed.
 */
export type RequestBodyKind = 'json' | 'jose' | 'register';

export const AcceptsBody = (kind: Exclude<RequestBodyKind, 'json'>) => RouteConfig({ body: kind });

export function requestBodyKind(request: Pick<FastifyRequest, 'routeOptions'>): RequestBodyKind {
  return ((request.routeOptions?.config as { body?: RequestBodyKind } | undefined)?.body ?? 'json') as RequestBodyKind;
}
