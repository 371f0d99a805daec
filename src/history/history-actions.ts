import type { ActorType, AuditAction } from '../audit/audit-event.js';

/** What the depositor reads: a stable vocabulary, independent of the audit actions' names. */
export const HISTORY_ACTIONS = [
  'attached',
  'read',
  'found-by-account',
  'revoked',
  'numbering-attached',
  'inquiry-inheritance',
  'inquiry-disaster',
  'inquiry-result-read',
  'inquiry-completed',
  'located-by-inquiry',
  'reported-deceased',
  'peer-query-answered',
  'numbering-requested',
  'numbering-result-read',
  'numbering-completed',
  'peer-numbering-answered',
  'history-read',
] as const;
export type HistoryAction = (typeof HISTORY_ACTIONS)[number];

export const HISTORY_PURPOSES = [
  'account-numbering',
  'inheritance',
  'disaster',
  'numbering-request',
  'depositor-request',
  'legal-representative-request',
] as const;
export type HistoryPurpose = (typeof HISTORY_PURPOSES)[number];

/** An audit row as the history reads it (never api key ids, operator ids or request ids). */
export interface HistoryRow {
  actorType: ActorType;
  action: AuditAction;
  details: Record<string, unknown>;
  /** The kind of the inquiry the row is about (its resource), when it is one. */
  inquiryKind: 'inheritance' | 'disaster' | 'numbering' | null;
}

interface Mapping {
  action: HistoryAction | ((row: HistoryRow) => HistoryAction);
  purpose: HistoryPurpose | ((row: HistoryRow) => HistoryPurpose);
}

/** The purpose of an inquiry's rows: its kind (from the row itself, or the inquiry). */
function inquiryPurpose(row: HistoryRow): HistoryPurpose {
  const kind = row.inquiryKind ?? row.details.kind;
  if (kind === 'disaster') return 'disaster';
  if (kind === 'numbering') return 'numbering-request';
  return 'inheritance';
}

/**
 * Every audit action, mapped to what the depositor's history shows, or `excluded`
 * (actions on institutions, keys, peers and the trail itself: they never concern one
 * subject). The record's type makes a new AuditAction a compile error here until it
 * is decided; history-actions.spec.ts checks the decisions.
 */
export const AUDIT_TO_HISTORY: Record<AuditAction, Mapping | 'excluded'> = {
  'linkage.attach': { action: 'attached', purpose: 'account-numbering' },
  'linkage.read': { action: 'read', purpose: 'account-numbering' },
  'linkage.find': { action: 'found-by-account', purpose: 'account-numbering' },
  'linkage.revoke': { action: 'revoked', purpose: 'account-numbering' },
  'numbering.attach': { action: 'numbering-attached', purpose: 'numbering-request' },
  'inquiry.create': {
    action: (row) => (inquiryPurpose(row) === 'disaster' ? 'inquiry-disaster' : 'inquiry-inheritance'),
    purpose: inquiryPurpose,
  },
  'inquiry.read': { action: 'inquiry-result-read', purpose: inquiryPurpose },
  'inquiry.complete': { action: 'inquiry-completed', purpose: inquiryPurpose },
  'inquiry.subject-located': { action: 'located-by-inquiry', purpose: inquiryPurpose },
  'linkage.holder-reported-deceased': { action: 'reported-deceased', purpose: 'inheritance' },
  'peer.location.answered': {
    action: 'peer-query-answered',
    purpose: (row) => (row.details.purpose === 'disaster' ? 'disaster' : 'inheritance'),
  },
  'peer.numbering.answered': { action: 'peer-numbering-answered', purpose: 'numbering-request' },
  'numbering.create': { action: 'numbering-requested', purpose: 'numbering-request' },
  'numbering.read': { action: 'numbering-result-read', purpose: 'numbering-request' },
  'numbering.complete': { action: 'numbering-completed', purpose: 'numbering-request' },
  'access-history.read': {
    action: 'history-read',
    purpose: (row) => (row.details.purpose === 'legal-representative-request' ? 'legal-representative-request' : 'depositor-request'),
  },
  'institution.create': 'excluded',
  'webhook.configure': 'excluded',
  'webhook.rotate-secret': 'excluded',
  'webhook.remove': 'excluded',
  'webhook.disable': 'excluded',
  'api-key.create': 'excluded',
  'api-key.revoke': 'excluded',
  'audit.verify': 'excluded',
  'disaster-declaration.create': 'excluded',
  'peer.register': 'excluded',
  'peer.disable': 'excluded',
  'peer.refresh-keys': 'excluded',
  'peer.refresh-keys.refused': 'excluded',
  // The register's rows are the institution's customers, not numbered subjects.
  'register.import': 'excluded',
  'institution.rate-limit': 'excluded',
  'key-rotation.start': 'excluded',
  'key-rotation.complete': 'excluded',
};

/** The audit actions the history reads (the query filters on them). */
export const HISTORY_AUDIT_ACTIONS: AuditAction[] = (Object.keys(AUDIT_TO_HISTORY) as AuditAction[]).filter(
  (a) => AUDIT_TO_HISTORY[a] !== 'excluded',
);

/** What the depositor sees of one audit row; undefined for an excluded action. */
export function toHistory(row: HistoryRow): { action: HistoryAction; purpose: HistoryPurpose } | undefined {
  const mapping = AUDIT_TO_HISTORY[row.action];
  if (mapping === undefined || mapping === 'excluded') return undefined;
  return {
    action: typeof mapping.action === 'function' ? mapping.action(row) : mapping.action,
    purpose: typeof mapping.purpose === 'function' ? mapping.purpose(row) : mapping.purpose,
  };
}
