/** Per target institution of a numbering request: `pending` until its node answers or the request is final. */
export const NUMBERING_TARGET_STATUSES = ['attached', 'no-match', 'ambiguous', 'unreachable', 'pending'] as const;
export type NumberingTargetStatus = (typeof NUMBERING_TARGET_STATUSES)[number];
