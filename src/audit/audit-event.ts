/** What an audit row records. Never a My Number: subjects are referred to by id. */
export type AuditAction =
  | 'linkage.attach'
  | 'linkage.read'
  | 'linkage.find'
  | 'linkage.revoke'
  /** A numbering request (他行付番) attached the number at a hosted institution. */
  | 'numbering.attach'
  | 'institution.create'
  /** The operator set or cleared an institution's own rate limit. */
  | 'institution.rate-limit'
  | 'webhook.configure'
  | 'webhook.rotate-secret'
  | 'webhook.remove'
  | 'webhook.disable'
  | 'api-key.create'
  | 'api-key.revoke'
  | 'audit.verify'
  | 'disaster-declaration.create'
  | 'inquiry.create'
  | 'inquiry.read'
  | 'inquiry.subject-located'
  | 'inquiry.complete'
  | 'linkage.holder-reported-deceased'
  | 'peer.register'
  | 'peer.disable'
  | 'peer.location.answered'
  | 'peer.numbering.answered'
  | 'numbering.create'
  | 'numbering.read'
  | 'numbering.complete'
  | 'register.import'
  /** The operator started a key rotation (re-index or re-wrap); details: kind, target key. */
  | 'key-rotation.start'
  /** A key rotation finished; details: rows moved and rows left under an old key, per table. */
  | 'key-rotation.complete'
  /** A depositor's access history was read at a branch (POST /v1/access-history). */
  | 'access-history.read'
  /** The operator (or the schedule) fetched a peer's published keys (GET {endpointUrl}/v1/node). */
  | 'peer.refresh-keys'
  /** A refresh found new keys the peer did not endorse in a key statement; refused. details: reason, offered thumbprints. */
  | 'peer.refresh-keys.refused';

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
