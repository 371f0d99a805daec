import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { PinoLogger } from 'nestjs-pino';
import { DomainError } from '../common/errors/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TOKEN_BUCKET_LUA, toDecision } from '../rate-limit/token-bucket.js';
import { REDIS } from '../redis/redis.module.js';

type QuotaRedis = Redis & { kouzaTokenBucket(key: string, burst: number, perMs: string, cost: number): Promise<[number, number, number, number]> };

const ERROR_LOG_INTERVAL_MS = 60_000;

/**
 * Per-peer quotas on inbound queries: a token bucket per sending node in Redis (shared
 * by every API process, the same Lua script as the API keys' rate limits), of one
 * minute's worth of queries, refilled at the peer's queries per minute (its own, set
 * with POST /v1/peers, else PEER_QUERIES_PER_MINUTE). A message takes one token per
 * query (or numbering notice) it carries, at most the whole bucket, so that a message
 * larger than a minute's quota passes on a full bucket rather than never.
 *
 * Taken after the message is verified (so nobody can spend a peer's quota in its name)
 * and its jti recorded (so that a replay cannot either). When Redis cannot answer, the
 * message goes through (fail open, as the API keys' limits do), counted in
 * kouza_rate_limit_errors_total. Without Redis (the worker, which never answers peers)
 * nothing is limited.
 */
@Injectable()
export class PeerQuota {
  private readonly redis?: QuotaRedis;
  private readonly keyPrefix: string;
  private lastErrorLog = 0;

  constructor(
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
    @Optional() @Inject(REDIS) redis?: Redis,
  ) {
    logger.setContext(PeerQuota.name);
    if (redis && !('kouzaTokenBucket' in redis)) redis.defineCommand('kouzaTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
    this.redis = redis as QuotaRedis | undefined;
    this.keyPrefix = `kouza-peer-quota:${config.QUEUE_PREFIX.replace(/[{}]/g, '')}:`;
  }

  /**
   * Takes `queries` tokens of the peer's quota; throws PEER_QUOTA_EXCEEDED (429, with
   * Retry-After) when they are not there. `ownPerMinute`: the peer's own quota (null = default).
   */
  async take(nodeId: string, ownPerMinute: number | null, queries: number): Promise<void> {
    const perMinute = ownPerMinute ?? this.config.PEER_QUERIES_PER_MINUTE;
    if (perMinute === 0 || !this.redis) return;
    const limit = { perMinute, burst: perMinute };
    let decision;
    try {
      const cost = Math.max(1, Math.min(queries, limit.burst));
      decision = toDecision(limit, await this.redis.kouzaTokenBucket(this.keyPrefix + nodeId, limit.burst, String(perMinute / 60_000), cost));
    } catch (error) {
      this.metrics.rateLimitErrors.inc();
      if (Date.now() - this.lastErrorLog > ERROR_LOG_INTERVAL_MS) {
        this.lastErrorLog = Date.now();
        this.logger.warn({ err: error }, 'peer quota not checked (Redis unavailable): messages let through');
      }
      return;
    }
    if (decision.allowed) return;
    this.metrics.peerQuotaRefused.inc({ node: nodeId });
    this.logger.warn({ peerNodeId: nodeId, queries, perMinute }, "peer message refused: the peer's quota is spent");
    throw new DomainError(
      'PEER_QUOTA_EXCEEDED',
      `The quota of this node (${perMinute} queries per minute) is spent; retry in ${decision.retryAfterSeconds} s`,
      {},
      { 'retry-after': String(decision.retryAfterSeconds) },
    );
  }
}
