/** Scopes an institution's API key can hold. */
export const INSTITUTION_SCOPES = [
  'linkages:write',
  'linkages:read',
  'inquiries:write',
  'inquiries:read',
  'history:read',
] as const;
export type InstitutionScope = (typeof INSTITUTION_SCOPES)[number];

/** Scopes of the operator; ADMIN_API_KEY holds all of them. */
export const ADMIN_SCOPES = ['admin:institutions', 'admin:api-keys', 'admin:audit', 'admin:peers'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

export type Scope = InstitutionScope | AdminScope;
