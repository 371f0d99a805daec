/** The vocabulary of location inquiries (DESIGN.md, "Interfaces"). */
export const INQUIRY_KINDS = ['inheritance', 'disaster'] as const;
export type InquiryKind = (typeof INQUIRY_KINDS)[number];

export const INQUIRY_STATUSES = ['queued', 'running', 'completed', 'partial', 'rejected'] as const;
export type InquiryStatus = (typeof INQUIRY_STATUSES)[number];
export const FINAL_STATUSES: readonly InquiryStatus[] = ['completed', 'partial', 'rejected'];

/** Per institution: `pending` until its node answers or the inquiry is final. */
export const RESULT_STATUSES = ['found', 'not-found', 'unreachable', 'pending'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export const INHERITANCE_RELATIONSHIPS = ['heir', 'legatee', 'executor', 'estate-administrator'] as const;
export const DISASTER_RELATIONSHIPS = ['self', 'legal-representative'] as const;
export const RELATIONSHIPS = [...INHERITANCE_RELATIONSHIPS, ...DISASTER_RELATIONSHIPS] as const;

/** Documents that evidence a death; an inheritance inquiry needs at least one. */
export const DEATH_EVIDENCE = [
  'legal-heir-information',
  'resident-record-removal',
  'family-register-attachment-removal',
] as const;
/** Documents a disaster inquiry may cite (the depositor's identity and residence). */
export const DISASTER_EVIDENCE = [
  'my-number-card',
  'drivers-license',
  'passport',
  'residence-card',
  'other-photo-id',
  'resident-record',
] as const;
export const EVIDENCE_TYPES = [...DEATH_EVIDENCE, ...DISASTER_EVIDENCE] as const;

/**
 * What a fan-out carries: a location inquiry, or a numbering request (他行付番), which
 * is a row of the same table and travels the same fan-out. One fan-out, one kind.
 */
export const FANOUT_KINDS = [...INQUIRY_KINDS, 'numbering'] as const;
export type FanoutKind = (typeof FANOUT_KINDS)[number];

/**
 * Disaster inquiries are served first, then inheritance inquiries, then numbering
 * requests (BullMQ and the queue's SQL both order by it).
 */
export const PRIORITY: Record<FanoutKind, number> = { disaster: 1, inheritance: 2, numbering: 3 };

/** The node id under which this node's own (hosted) institutions answer. */
export const HOSTED_NODE_ID = '00000000-0000-0000-0000-000000000000';

export interface LocatedAccount {
  branchCode: string;
  accountType: string;
  accountNumber: string;
}

export interface InstitutionFinding {
  code: string;
  accounts: LocatedAccount[];
}
