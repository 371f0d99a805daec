/** Scopes an institution's API key can hold. */
export const INSTITUTION_SCOPES = [
  'linkages:write',
  'linkages:read',
  'inquiries:write',
  'inquiries:read',
  'history:read',
  /** Upload the institution's account register (POST /v1/register-imports). */
  'register:write',
  /** Read the institution's register imports and their reports. */
  'register:read',
] as const;
export type InstitutionScope = (typeof INSTITUTION_SCOPES)[number];

/** Scopes of the operator; ADMIN_API_KEY holds all of them. */
export const ADMIN_SCOPES = [
  'admin:institutions',
  'admin:api-keys',
  'admin:audit',
  'admin:disasters',
  'admin:peers',
  /** Start and follow key rotations (blind-index key, master key). */
  'admin:keys',
] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

export type Scope = InstitutionScope | AdminScope;
