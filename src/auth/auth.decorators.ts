import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/errors/domain-error.js';
import type { InstitutionPrincipal, Principal } from './principal.js';
import type { Scope } from './scopes.js';

export const SCOPES_KEY = 'kouza:scopes';
export const PUBLIC_KEY = 'kouza:public';

/** The route needs a key holding every one of these scopes. */
export const RequireScopes = (...scopes: Scope[]) => SetMetadata(SCOPES_KEY, scopes);

/**
 * The route answers without a key (health, metrics, docs, node keys). The OpenAPI
 * document says so (`security: []`); every other route documents the bearer key.
 */
export const PUBLIC_EXTENSION = 'x-kouza-public';
export const Public = () => applyDecorators(SetMetadata(PUBLIC_KEY, true), ApiExtension(PUBLIC_EXTENSION, true));

export type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

/** The caller, for routes an institution's key reaches. */
export const CurrentInstitution = createParamDecorator((_: unknown, ctx: ExecutionContext): InstitutionPrincipal => {
  const principal = ctx.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (principal?.kind !== 'institution') {
    // Reached only if a route is declared with institution scopes but the guard let an
    // operator through: refuse rather than act without an institution.
    throw new DomainError('FORBIDDEN_SCOPE', 'This action is taken with an institution API key');
  }
  return principal;
});

export const CurrentPrincipal = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): Principal | undefined =>
    ctx.switchToHttp().getRequest<AuthenticatedRequest>().principal,
);
