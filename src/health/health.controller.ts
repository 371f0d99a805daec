import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.decorators.js';
import { READ_DATABASE, ReadDatabase } from '../database/read-database.js';
import { REDIS } from '../redis/redis.module.js';
import { checkRedis, type RedisClient } from '../redis/redis-client.js';

/**
 * Terminus' answer: `status`, and per dependency `{status: "up" | "down" | "degraded", message?}`.
 * The read replica (when DATABASE_READ_URL is set) is `databaseReplica`: lost, it is
 * `degraded`, not down (its reads go to the primary), and the answer stays 200.
 */
const HEALTH_SCHEMA = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded', 'error', 'shutting_down'] },
    info: { type: 'object', additionalProperties: { type: 'object', properties: { status: { type: 'string', enum: ['up', 'down', 'degraded'] } } } },
    error: { type: 'object', additionalProperties: { type: 'object', properties: { status: { type: 'string', enum: ['up', 'down', 'degraded'] } } } },
    details: { type: 'object', additionalProperties: { type: 'object', properties: { status: { type: 'string', enum: ['up', 'down', 'degraded'] } } } },
  },
  example: { status: 'ok', info: { database: { status: 'up' }, redis: { status: 'up' } }, error: {}, details: { database: { status: 'up' }, redis: { status: 'up' } } },
};

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(READ_DATABASE) private readonly reads: ReadDatabase,
  ) {}

  @Get()
  @Public()
  @ApiOperation({
    operationId: 'getReadiness',
    summary: 'Readiness: Postgres and Redis reachable',
    description: 'With a read replica (DATABASE_READ_URL), `databaseReplica` too: when only the replica is lost the answer is 200 with status `degraded` (its reads go to the primary).',
  })
  @ApiOkResponse({ description: 'Postgres and Redis answer (the read replica may be `degraded`)', schema: HEALTH_SCHEMA })
  @ApiServiceUnavailableResponse({ description: 'A dependency is down; `error` says which', schema: HEALTH_SCHEMA })
  async check(@Res() reply: FastifyReply): Promise<void> {
    try {
      const result = await this.health.check([
        () => this.database.pingCheck('database').withTimeout(1500),
        () =>
          this.indicators
            .check('redis')
            .attempt(async () => {
              await checkRedis(this.redis);
            })
            .withTimeout(1500),
        ...(this.reads.hasReplica ? [() => this.replicaCheck()] : []),
      ]);
      void reply.status(200).send(result);
    } catch (error) {
      const body = (error as { getResponse?: () => unknown }).getResponse?.() ?? { status: 'error' };
      void reply.status(503).send(body);
    }
  }

  /** The read replica: up, or degraded (never down: the primary serves its reads meanwhile). */
  private async replicaCheck() {
    const session = this.indicators.check('databaseReplica');
    return (await this.reads.ping(1500)) ? session.up() : session.degraded({ message: 'read replica unreachable; its reads go to the primary' });
  }

  @Get('live')
  @Public()
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness: the process answers' })
  @ApiOkResponse({ schema: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
