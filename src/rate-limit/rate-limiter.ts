import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import type { Principal } from '../auth/principal.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { REDIS } from '../redis/redis.module.js';
import type { RedisClient } from '../redis/redis-client.js';
import { redisKeyBase } from '../queue/queues.js';
import { RateLimitsRepository } from './rate-limits.repository.js';
import { BucketDecision, RateLimit, TOKEN_BUCKET_LUA, toDecision } from './token-bucket.js';

type BucketRedis = RedisClient & { kouzaTokenBucket(key: string, burst: number, perMs: string): Promise<[number, number, number, number]> };

const ERROR_LOG_INTERVAL_MS = 60_000;

/**
 * Per-key rate limits, counted in Redis so that every API process and replica shares
 * one bucket per key. An institution's keys get the institution's own limit if the
 * operator set one, else the defaults; the operator key has its own. When Redis cannot
 * answer, the request goes through (fail open): the limit protects capacity, and
 * refusing every teller while Redis restarts would be the worse outage. Such requests
 * are counted (kouza_rate_limit_errors_total) and logged at most once a minute.
 */
@Injectable()
export class RateLimiter {
  private readonly redis: BucketRedis;
  private readonly keyPrefix: string;
  private readonly overrides = new Map<string, { at: number; limit: Promise<RateLimit | null> }>();
  private lastErrorLog = 0;

  constructor(
    @Inject(REDIS) redis: RedisClient,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly repository: RateLimitsRepository,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(RateLimiter.name);
    if (!('kouzaTokenBucket' in redis)) redis.defineCommand('kouzaTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
    this.redis = redis as BucketRedis;
    // No hash tag: buckets spread over a Redis Cluster's slots (each is one key).
    this.keyPrefix = `kouza-rate:${redisKeyBase(config.QUEUE_PREFIX)}:`;
  }

  /** The decision for one request of this caller; undefined when not limited (or Redis failed). */
  async take(principal: Principal): Promise<BucketDecision | undefined> {
    const limit = await this.limitOf(principal);
    if (limit.perMinute === 0) return undefined;
    const bucket = principal.kind === 'operator' ? 'operator' : `key:${principal.apiKeyId}`;
    try {
      const reply = await this.redis.kouzaTokenBucket(this.keyPrefix + bucket, limit.burst, String(limit.perMinute / 60_000));
      const decision = toDecision(limit, reply);
      if (!decision.allowed) {
        this.metrics.rateLimited.inc({
          principal: principal.kind,
          institution: principal.kind === 'institution' ? principal.institutionCode : '',
        });
      }
      return decision;
    } catch (error) {
      this.metrics.rateLimitErrors.inc();
      if (Date.now() - this.lastErrorLog > ERROR_LOG_INTERVAL_MS) {
        this.lastErrorLog = Date.now();
        this.logger.warn({ err: error }, 'rate limit not checked (Redis unavailable): requests let through');
      }
      return undefined;
    }
  }

  /** The limit that applies to this caller now. */
  async limitOf(principal: Principal): Promise<RateLimit> {
    if (principal.kind === 'operator') {
      return { perMinute: this.config.ADMIN_RATE_LIMIT_PER_MINUTE, burst: this.config.ADMIN_RATE_LIMIT_BURST };
    }
    const own = await this.institutionLimit(principal.institutionId);
    return own ?? { perMinute: this.config.RATE_LIMIT_PER_MINUTE, burst: this.config.RATE_LIMIT_BURST };
  }

  /** The institution's own limit, kept RATE_LIMIT_CACHE_SECONDS per process. */
  private institutionLimit(institutionId: string): Promise<RateLimit | null> {
    const cached = this.overrides.get(institutionId);
    if (cached && Date.now() - cached.at < this.config.RATE_LIMIT_CACHE_SECONDS * 1000) return cached.limit;
    const limit = this.repository.find(institutionId);
    // A failed read is not kept: the next request asks again.
    limit.catch(() => this.overrides.delete(institutionId));
    this.overrides.set(institutionId, { at: Date.now(), limit });
    return limit;
  }

  /** After a change in this process: no waiting for the cache here (other processes: within the TTL). */
  forget(institutionId: string): void {
    this.overrides.delete(institutionId);
  }
}
