import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import type { AuditAction } from '../audit/audit-event.js';
import { AUDIT_TO_HISTORY, HISTORY_ACTIONS, HISTORY_AUDIT_ACTIONS, HISTORY_PURPOSES, toHistory, type HistoryRow } from './history-actions.js';

/** The AuditAction union as written in its source: the spec sees what the compiler sees. */
function declaredAuditActions(): string[] {
  // Comments first: they may hold a ';' or a quoted word.
  const source = readFileSync(new URL('../audit/audit-event.ts', import.meta.url), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
  const union = /export type AuditAction =([\s\S]*?);/.exec(source)![1];
  return [...union.matchAll(/\|\s*'([^']+)'/g)].map((m) => m[1]);
}

/**
 * The actions whose rows concern one subject: written with a subject id, or about an
 * inquiry or numbering request (found by the blind index that stays on it), or
 * the request for the history itself. Each must be shown.
 */
const CONCERN_A_SUBJECT: AuditAction[] = [
  'linkage.attach',
  'linkage.read',
  'linkage.find',
  'linkage.revoke',
  'numbering.attach',
  'inquiry.create',
  'inquiry.read',
  'inquiry.subject-located',
  'inquiry.complete',
  'linkage.holder-reported-deceased',
  'peer.location.answered',
  'peer.numbering.answered',
  'numbering.create',
  'numbering.read',
  'numbering.complete',
  'access-history.read',
];

const row = (action: AuditAction, details: Record<string, unknown> = {}, inquiryKind: HistoryRow['inquiryKind'] = null): HistoryRow => ({
  actorType: 'institution',
  action,
  details,
  inquiryKind,
});

describe('AUDIT_TO_HISTORY', () => {
  it('decides every audit action: mapped or explicitly excluded, and nothing else', () => {
    const declared = declaredAuditActions();
    expect(declared.length).toBeGreaterThan(20);
    expect(Object.keys(AUDIT_TO_HISTORY).sort()).toEqual([...declared].sort());
  });

  it('maps every action that concerns a subject', () => {
    for (const action of CONCERN_A_SUBJECT) {
      expect([action, AUDIT_TO_HISTORY[action]]).not.toEqual([action, 'excluded']);
    }
    expect([...HISTORY_AUDIT_ACTIONS].sort()).toEqual([...CONCERN_A_SUBJECT].sort());
  });

  it('gives every mapped row an action and a purpose of the documented vocabularies', () => {
    const variants: HistoryRow[] = HISTORY_AUDIT_ACTIONS.flatMap((action) => [
      row(action),
      row(action, { kind: 'disaster', purpose: 'disaster' }, 'disaster'),
      row(action, {}, 'numbering'),
    ]);
    for (const r of variants) {
      const shown = toHistory(r)!;
      expect(HISTORY_ACTIONS).toContain(shown.action);
      expect(HISTORY_PURPOSES).toContain(shown.purpose);
    }
  });

  it('tells inheritance from disaster inquiries, and numbering requests', () => {
    expect(toHistory(row('inquiry.create', {}, 'inheritance'))).toEqual({ action: 'inquiry-inheritance', purpose: 'inheritance' });
    expect(toHistory(row('inquiry.create', { kind: 'disaster' }))).toEqual({ action: 'inquiry-disaster', purpose: 'disaster' });
    expect(toHistory(row('inquiry.complete', {}, 'disaster'))).toEqual({ action: 'inquiry-completed', purpose: 'disaster' });
    expect(toHistory(row('peer.location.answered', { purpose: 'disaster' }))).toEqual({
      action: 'peer-query-answered',
      purpose: 'disaster',
    });
    expect(toHistory(row('numbering.complete', {}, 'numbering'))).toEqual({ action: 'numbering-completed', purpose: 'numbering-request' });
  });

  it('shows nothing of an excluded or unknown action', () => {
    expect(toHistory(row('api-key.create'))).toBeUndefined();
    expect(toHistory(row('something.else' as AuditAction))).toBeUndefined();
  });
});
