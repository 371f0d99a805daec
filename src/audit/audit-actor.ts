import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import type { AuditActor } from './audit-event.js';

/** The audit trail's "who" for a request: the key's institution, or the operator. */
export function auditActor(
  principal: Principal | undefined,
  request: FastifyRequest,
  teller?: { branchCode?: string; operatorId?: string },
): AuditActor {
  const base = { requestId: request.id, branchCode: teller?.branchCode, operatorId: teller?.operatorId };
  if (principal?.kind === 'institution') {
    return { ...base, actorType: 'institution', institutionId: principal.institutionId, apiKeyId: principal.apiKeyId };
  }
  return { ...base, actorType: 'operator' };
}
