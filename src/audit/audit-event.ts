/** What an audit row records. Never a My Number: subjects are referred to by id. */
export type AuditAction =
  | 'linkage.attach'
  | 'linkage.read'
  | 'linkage.find'
  | 'linkage.revoke'
  | 'institution.create'
  | 'api-key.create'
  | 'api-key.revoke'
  | 'audit.verify'
  | 'peer.register'
  | 'peer.disable'
  | 'peer.location.answered';

export type ActorType = 'institution' | 'operator' | 'system' | 'peer';

/** Who acted, as the request told us. */
export interface AuditActor {
  actorType: ActorType;
  institutionId?: string;
  apiKeyId?: string;
  branchCode?: string;
  operatorId?: string;
  requestId?: string;
}

export interface AuditEvent {
  action: AuditAction;
  resourceType?: string;
  resourceId?: string;
  subjectId?: string;
  /** Ids, codes and counts only. */
  details?: Record<string, unknown>;
}
