import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../common/errors/domain-error.js';
import { sendProblem, toProblem } from '../common/errors/problem.filter.js';

/**
 * The operations surface: the Prometheus scrape (`/metrics`), the queue dashboard
 * (`/queues`, its API and static files) and the API documents (`/docs`, `/docs/…`,
 * `/docs-yaml`). Decided on the route template the router matched, never on the URL as
 * sent, so that no spelling of a path moves a request from one side to the other.
 */
export function isOperationsRoute(template: string | undefined): boolean {
  return template !== undefined && /^\/(metrics|docs|queues)($|[/-])/.test(template);
}

/** Probes may look on either listener. */
function isHealthRoute(template: string | undefined): boolean {
  return template !== undefined && /^\/health($|\/)/.test(template);
}

const OPERATIONS_SERVERS = new WeakMap<FastifyInstance, http.Server>();

/**
 * OPS_PORT: a second HTTP server that feeds the same Fastify instance
 * (`fastify.routing`), and one onRequest hook, the first of the application, that
 * answers 404 ROUTE_NOT_FOUND to an operations route reached on the public listener and
 * to any other route (but `/health`) reached on the operations listener. One Fastify
 * instance keeps one set of routes, plugins and metrics; the second server only decides
 * which of them a connection may reach. Call before any other hook or route.
 */
export function separateOperationsSurface(fastify: FastifyInstance): void {
  const server = http.createServer();
  server.keepAliveTimeout = fastify.server.keepAliveTimeout;
  server.requestTimeout = fastify.server.requestTimeout;
  const arrivedHere = new WeakSet<IncomingMessage>();
  server.on('request', (req: IncomingMessage, res: http.ServerResponse) => {
    arrivedHere.add(req);
    fastify.routing(req, res);
  });
  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const template = request.routeOptions.url;
    if (isHealthRoute(template) || isOperationsRoute(template) === arrivedHere.has(request.raw)) return;
    sendProblem(reply, toProblem(new DomainError('ROUTE_NOT_FOUND'), request.id));
    return reply;
  });
  fastify.addHook('onClose', async () => {
    if (!server.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  OPERATIONS_SERVERS.set(fastify, server);
}

/** The operations listener of an app built with OPS_PORT (not listening until listenOperations). */
export function operationsServer(app: NestFastifyApplication): http.Server | undefined {
  return OPERATIONS_SERVERS.get(app.getHttpAdapter().getInstance());
}

/** Starts the operations listener (main.ts: OPS_PORT on OPS_HOST); closed with the app. */
export async function listenOperations(app: NestFastifyApplication, at: { port: number; host: string }): Promise<http.Server> {
  const server = operationsServer(app);
  if (!server) throw new Error('the app was built without OPS_PORT: the operations surface is on the public port');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** host:port of a listening server, for the start-up log. */
export function listeningAt(server: http.Server): string {
  const address = server.address() as AddressInfo;
  return `${address.address}:${address.port}`;
}
