import { Inject, Injectable, Optional } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { DomainError } from '../common/errors/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TOKEN_BUCKET_LUA, toDecision, type BucketDecision, type RateLimit } from '../rate-limit/token-bucket.js';
import { REDIS } from '../redis/redis.module.js';
import type { RedisClient } from '../redis/redis-client.js';
import { redisKeyBase } from '../queue/queues.js';

type QuotaRedis = RedisClient & { kouzaTokenBucket(key: string, burst: number, perMs: string, cost: number): Promise<[number, number, number, number]> };

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
 *
 * Also the per-address limit of the peer routes (PeerAddressLimitGuard), taken before
 * the message is looked at at all.
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
    @Optional() @Inject(REDIS) redis?: RedisClient,
  ) {
    logger.setContext(PeerQuota.name);
    if (redis && !('kouzaTokenBucket' in redis)) redis.defineCommand('kouzaTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
    this.redis = redis as QuotaRedis | undefined;
    // No hash tag: buckets spread over a Redis Cluster's slots (each is one key).
    this.keyPrefix = `kouza-peer-quota:${redisKeyBase(config.QUEUE_PREFIX)}:`;
  }

  /**
   * Takes `queries` tokens of the peer's quota; throws PEER_QUOTA_EXCEEDED (429, with
   * Retry-After) when they are not there. `ownPerMinute`: the peer's own quota (null = default).
   */
  async take(nodeId: string, ownPerMinute: number | null, queries: number): Promise<void> {
    const perMinute = ownPerMinute ?? this.config.PEER_QUERIES_PER_MINUTE;
    const decision = await this.bucket(`node:${nodeId}`, { perMinute, burst: perMinute }, queries);
    if (!decision || decision.allowed) return;
    this.metrics.peerQuotaRefused.inc({ node: nodeId });
    this.logger.warn({ peerNodeId: nodeId, queries, perMinute }, "peer message refused: the peer's quota is spent");
    throw new DomainError(
      'PEER_QUOTA_EXCEEDED',
      `The quota of this node (${perMinute} queries per minute) is spent; retry in ${decision.retryAfterSeconds} s`,
      {},
      { 'retry-after': String(decision.retryAfterSeconds) },
    );
  }

  /**
   * One message from this address, before anything about it is read (not even who it
   * says it is from): PEER_IP_RATE_LIMIT_PER_MINUTE per client address, whoever sends.
   * Throws PEER_RATE_LIMITED (429, with Retry-After).
   */
  async takeForAddress(address: string): Promise<void> {
    const limit = { perMinute: this.config.PEER_IP_RATE_LIMIT_PER_MINUTE, burst: this.config.PEER_IP_RATE_LIMIT_BURST };
    const decision = await this.bucket(`ip:${address}`, limit, 1);
    if (!decision || decision.allowed) return;
    // No address label: the label set would be whatever addresses send (the log has it).
    this.metrics.peerAddressRateLimited.inc();
    this.logger.warn({ remoteAddress: address }, 'peer message refused: too many from this address');
    throw new DomainError(
      'PEER_RATE_LIMITED',
      `Too many node-to-node messages from this address; retry in ${decision.retryAfterSeconds} s`,
      {},
      { 'retry-after': String(decision.retryAfterSeconds) },
    );
  }

  /** The bucket's decision on `cost` tokens; undefined when not limited (0, no Redis, or Redis failed: fail open). */
  private async bucket(name: string, limit: RateLimit, cost: number): Promise<BucketDecision | undefined> {
    if (limit.perMinute === 0 || !this.redis) return undefined;
    try {
      const taken = Math.max(1, Math.min(cost, limit.burst));
      return toDecision(limit, await this.redis.kouzaTokenBucket(this.keyPrefix + name, limit.burst, String(limit.perMinute / 60_000), taken));
    } catch (error) {
      this.metrics.rateLimitErrors.inc();
      if (Date.now() - this.lastErrorLog > ERROR_LOG_INTERVAL_MS) {
        this.lastErrorLog = Date.now();
        this.logger.warn({ err: error }, 'peer quota not checked (Redis unavailable): messages let through');
      }
      return undefined;
    }
  }
}
