import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/errors/domain-error.js';
import { ApiKeysRepository } from '../institutions/api-keys.repository.js';
import { ApiKeyCache } from '../institutions/api-key-cache.js';
import { RateLimiter } from '../rate-limit/rate-limiter.js';
import type { FastifyReply } from 'fastify';
import { constantTimeEquals, hashApiKey, isWellFormedApiKey } from './api-key-format.js';
import { AuthenticatedRequest, PUBLIC_KEY, SCOPES_KEY } from './auth.decorators.js';
import type { Principal } from './principal.js';
import { ADMIN_SCOPES, InstitutionScope, Scope } from './scopes.js';

const unauthenticated = () =>
  new DomainError('UNAUTHENTICATED', 'Send "Authorization: Bearer <api key>"', {}, { 'www-authenticate': 'Bearer' });

/**
 * The one gate: every route declares either @Public() or the scopes it needs. Keys are
 * found by hash, in the cache (which revocations empty at once) or by one indexed read.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly adminKeyHash?: Buffer;
  private readonly operator: Principal = { kind: 'operator', scopes: new Set<Scope>(ADMIN_SCOPES) };

  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysRepository,
    private readonly cache: ApiKeyCache,
    private readonly limiter: RateLimiter,
    @Inject(AppConfig) config: AppConfig,
  ) {
    if (config.ADMIN_API_KEY) this.adminKeyHash = hashApiKey(config.ADMIN_API_KEY);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const required = this.reflector.getAllAndOverride<Scope[] | undefined>(SCOPES_KEY, targets);
    if (!required) throw new Error('route declares neither @Public() nor @RequireScopes()');

    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = await this.authenticate(request.headers.authorization);
    await this.limit(principal, context.switchToHttp().getResponse<FastifyReply>());
    if (!required.every((scope) => principal.scopes.has(scope as never))) {
      throw new DomainError('FORBIDDEN_SCOPE', `This action needs the scope(s): ${required.join(', ')}`);
    }
    request.principal = principal;
    return true;
  }

  /**
   * The caller's rate limit, right after authentication (a key without the scope still
   * spends its budget). Limited answers carry RateLimit-Limit (the burst), -Remaining
   * and -Reset (seconds until the bucket is full); a refusal also Retry-After.
   */
  private async limit(principal: Principal, reply: FastifyReply): Promise<void> {
    const decision = await this.limiter.take(principal);
    if (!decision) return;
    const headers = {
      'ratelimit-limit': String(decision.limit),
      'ratelimit-remaining': String(decision.remaining),
      'ratelimit-reset': String(decision.resetSeconds),
    };
    void reply.headers(headers);
    if (!decision.allowed) {
      throw new DomainError(
        'RATE_LIMITED',
        `Rate limit of this API key reached; retry in ${decision.retryAfterSeconds} s`,
        {},
        { ...headers, 'retry-after': String(decision.retryAfterSeconds) },
      );
    }
  }

  private async authenticate(header: string | undefined): Promise<Principal> {
    const match = /^Bearer ([!-~]{1,256})$/.exec(header ?? '');
    if (!match) throw unauthenticated();
    const hash = hashApiKey(match[1]);
    if (this.adminKeyHash && constantTimeEquals(hash, this.adminKeyHash)) return this.operator;
    if (!isWellFormedApiKey(match[1])) throw unauthenticated();
    const cacheKey = hash.toString('base64');
    let key = this.cache.get(cacheKey);
    if (!key) {
      const generation = this.cache.generation;
      key = await this.apiKeys.findActiveByHash(hash);
      if (!key) throw unauthenticated();
      this.cache.set(cacheKey, key, generation);
    }
    return {
      kind: 'institution',
      institutionId: key.institutionId,
      institutionCode: key.institutionCode,
      apiKeyId: key.id,
      scopes: new Set(key.scopes as InstitutionScope[]),
    };
  }
}
