import type { TestApp, TestInstitution } from './test-app.js';
import { eventually } from './test-app.js';

/**
 * A valid inheritance inquiry; `overrides` replace top-level fields. The subject is
 * linkageBody()'s (name and birth date): an inquiry finds only the subject it names.
 */
export function inheritanceBody(myNumber: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'inheritance',
    branchCode: '010',
    operatorId: 'T0100',
    subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', dateOfDeath: '2026-10-01' },
    applicant: { relationship: 'heir', name: '山田 花子' },
    evidence: [{ type: 'legal-heir-information', reference: 'HJ-2026-0001' }],
    ...overrides,
  };
}

/** A valid disaster inquiry for a depositor of Wajima (172049), linkageBody()'s subject. */
export function disasterBody(myNumber: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'disaster',
    branchCode: '010',
    operatorId: 'T0100',
    subject: { myNumber, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01', municipalityCode: '172049' },
    applicant: { relationship: 'self', name: '山田 太郎' },
    evidence: [{ type: 'my-number-card', reference: 'card' }],
    ...overrides,
  };
}

export const FINAL = ['completed', 'partial', 'rejected'];

/** Waits until the inquiry is final; the last response. */
export function finalInquiryResponse(t: TestApp, who: TestInstitution, id: string, timeoutMs = 20_000) {
  return eventually(
    () => t.http.get(`/v1/inquiries/${id}`).set(who.auth),
    (r) => r.status === 200 && FINAL.includes(r.body.status),
    timeoutMs,
  );
}

/** Waits until the inquiry is final and returns its view. */
export async function finalInquiry(t: TestApp, who: TestInstitution, id: string, timeoutMs = 20_000): Promise<any> {
  return (await finalInquiryResponse(t, who, id, timeoutMs)).body;
}

/** linkageBody()'s subject as a location query names it (nameKey of ヤマダ タロウ, birth date). */
export const LINKAGE_SUBJECT = { nameKey: 'ﾔﾏﾀﾞﾀﾛｳ', birthDate: '1980-04-01' } as const;

/** A claim of death as inheritanceBody() makes it: its date of death and evidence. */
export const DEATH_CLAIM = {
  dateOfDeath: '2026-10-01',
  evidence: [{ type: 'legal-heir-information' as const, reference: 'HJ-2026-0001' }],
};
