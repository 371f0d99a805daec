import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { constantTimeEquals, hashApiKey } from '../auth/api-key-format.js';
import { DomainError } from '../common/errors/domain-error.js';
import { sendProblem, toProblem } from '../common/errors/problem.filter.js';
import type { AppConfig } from '../config/app-config.js';
import { allQueues } from '../queue/all-queues.js';

export const QUEUE_DASHBOARD_PATH = '/queues';

/**
 * The operator's key from `Authorization`: `Bearer <key>` for scripts, or HTTP Basic
 * with the key as the password (any user name) because a browser cannot send a Bearer
 * header and prompts for Basic credentials by itself.
 */
export function operatorKeyFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer ([!-~]{1,256})$/.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

/**
 * Bull Board at /queues: every queue of QueueName (with QUEUE_PREFIX), including the
 * maintenance queue's job schedulers (retention, audit seal, webhook sweep). Only the
 * operator key (ADMIN_API_KEY) opens it; without one configured it always answers 401.
 * Read-only (bull-board's readOnlyMode on every queue) unless QUEUE_DASHBOARD_ACTIONS;
 * its actions (retry, promote, clean, pause) act on Redis only: Postgres stays the truth.
 *
 * The key is checked by an onRequest hook of the dashboard's own encapsulated plugin:
 * Fastify runs it for every route registered inside (page, API, static files), once the
 * router has matched the request to one of them. So whatever spelling of the path the
 * router takes for a dashboard route (percent-encoding, case, slashes, parameters), the
 * hook runs; a check of the raw URL before routing would miss the spellings it does not
 * know (as `/%71ueues/...` once did).
 */
export async function mountQueueDashboard(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const board = new BullBoardFastifyAdapter();
  board.setBasePath(QUEUE_DASHBOARD_PATH);
  const readOnlyMode = !config.QUEUE_DASHBOARD_ACTIONS;
  createBullBoard({
    queues: allQueues(app).map((queue) => new BullMQAdapter(queue, { readOnlyMode })),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'kouza-hub queues' } },
  });
  const adminKeyHash = config.ADMIN_API_KEY ? hashApiKey(config.ADMIN_API_KEY) : undefined;
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const key = operatorKeyFrom(request.headers.authorization);
    if (adminKeyHash && key !== undefined && constantTimeEquals(hashApiKey(key), adminKeyHash)) return;
    const refusal = new DomainError('UNAUTHENTICATED', 'The queue dashboard needs the operator key (HTTP Basic: any user, the key as password)');
    void reply.header('www-authenticate', 'Basic realm="kouza-hub queues", charset="UTF-8"');
    sendProblem(reply, toProblem(refusal, request.id));
    return reply;
  };
  // Not wrapped in fastify-plugin: the encapsulation is the point (the hook covers this
  // plugin's routes, all of them, and nothing else).
  const dashboard = async (scope: FastifyInstance) => {
    scope.addHook('onRequest', authenticate);
    await scope.register(board.registerPlugin() as never);
  };
  await app.register(dashboard as never, { prefix: QUEUE_DASHBOARD_PATH });
}
