import type { InstitutionScope, Scope } from './scopes.js';

/** Who is calling: an institution through one of its keys, or the operator. */
export type Principal = InstitutionPrincipal | OperatorPrincipal;

export interface InstitutionPrincipal {
  kind: 'institution';
  institutionId: string;
  institutionCode: string;
  apiKeyId: string;
  scopes: ReadonlySet<InstitutionScope>;
}

export interface OperatorPrincipal {
  kind: 'operator';
  scopes: ReadonlySet<Scope>;
}
