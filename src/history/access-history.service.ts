import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor, AuditEvent } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { ValidationFailed } from '../common/errors/domain-error.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { AccessHistoryRepository, type HistoryEventRow, type SubjectTraces } from './access-history.repository.js';
import { DEFAULT_HISTORY_PAGE, type AccessHistoryRequestDto } from './dto/access-history.dto.js';
import type { AccessHistoryItemView, AccessHistoryView } from './dto/access-history.view.js';
import { HISTORY_AUDIT_ACTIONS, toHistory } from './history-actions.js';

/** The resources a depositor may be shown a reference to (never a peer's internal id). */
const REFERENCE_TYPES = new Set(['linkage', 'attachment', 'inquiry', 'numbering-request']);

/**
 * The depositor's access history (the equivalent of the Mynaportal record of
 * information exchanges): every audited event about their number on this node, at
 * every hosted institution, newest first.
 *
 * Any institution's branch may ask: the depositor may go to any branch, and the
 * history is the node's, not the asking institution's. The number finds the
 * subjects (every hosted institution) and the inquiries and numbering requests about
 * it (their blind index stays after they are final); the birth date must match what
 * was recorded with them. Nothing else is shown of a number never seen here, or seen
 * under another birth date, than an empty list.
 */
@Injectable()
export class AccessHistoryService {
  constructor(
    private readonly db: DataSource,
    private readonly blindIndex: BlindIndex,
    private readonly repository: AccessHistoryRepository,
    private readonly audit: AuditService,
  ) {}

  async read(dto: AccessHistoryRequestDto, actor: AuditActor): Promise<AccessHistoryView> {
    const limit = dto.limit ?? DEFAULT_HISTORY_PAGE;
    const beforeId = dto.cursor === undefined ? null : decodeCursor(dto.cursor);
    const indexes = this.blindIndex.computeAll(dto.subject.myNumber);
    return this.db.transaction(async (tx) => {
      const traces = await this.repository.traces(tx, indexes, dto.subject.birthDate);
      const rows = await this.repository.page(tx, traces, HISTORY_AUDIT_ACTIONS, beforeId, limit + 1);
      const page = rows.slice(0, limit);
      // Recorded after the page was read (it shows in the next call), and in the same
      // transaction: no history is answered without its record.
      await this.audit.record(tx, actor, historyReadEvent(dto, traces, page.length, beforeId !== null));
      return {
        items: page.map(toItem),
        nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1].id) : null,
      };
    });
  }
}

/**
 * One row per request: it names the first subject found (all of them in its details),
 * so that it shows in the next history; for a number with no subject here but
 * requests about it (an heir's inquiry about a depositor of no hosted institution),
 * it has the newest request as its resource instead; otherwise it names nothing.
 */
function historyReadEvent(dto: AccessHistoryRequestDto, traces: SubjectTraces, items: number, nextPage: boolean): AuditEvent {
  const subjectIds = [...traces.subjectIds].sort();
  const details = {
    purpose: dto.purpose ?? 'depositor-request',
    identityDocument: dto.verification.identityDocument,
    ...(dto.verification.numberDocument ? { numberDocument: dto.verification.numberDocument } : {}),
    subjectIds,
    requests: traces.requests.length,
    items,
    ...(nextPage ? { nextPage: true } : {}),
  };
  const event = { action: 'access-history.read', details } as const;
  if (subjectIds.length > 0) return { ...event, resourceType: 'subject', subjectId: subjectIds[0] };
  const newest = traces.requests[0];
  if (newest) return { ...event, resourceType: newest.kind === 'numbering' ? 'numbering-request' : 'inquiry', resourceId: newest.id };
  return event;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** What the depositor sees of one audit row: never key ids, operator ids, request ids or details beyond these. */
export function toItem(row: HistoryEventRow): AccessHistoryItemView {
  const shown = toHistory({ actorType: row.actorType, action: row.action, details: row.details, inquiryKind: row.inquiryKind });
  if (!shown) throw new Error(`audit action ${row.action} is not shown in the history`);
  const item: AccessHistoryItemView = {
    at: row.at,
    institution: row.institutionCode ? { code: row.institutionCode, name: row.institutionName! } : null,
    actor: row.actorType,
    action: shown.action,
    purpose: shown.purpose,
  };
  const origin = row.details.origin && typeof row.details.origin === 'object' ? (row.details.origin as Record<string, unknown>) : {};
  if (row.action === 'numbering.attach') {
    // The row's branch is the requesting institution's, not the institution attached at.
    const institutionCode = text(origin.institutionCode);
    const branchCode = text(origin.branchCode);
    if (institutionCode && branchCode) item.requestedAt = { institutionCode, branchCode };
  } else if (row.holderCode && row.institutionCode) {
    // Found by an inquiry: shown at the institution holding the accounts, asked from the requester's branch.
    item.institution = { code: row.holderCode, name: row.holderName! };
    if (row.branchCode) item.requestedAt = { institutionCode: row.institutionCode, branchCode: row.branchCode };
  } else if (row.branchCode) {
    item.branchCode = row.branchCode;
  }
  if (row.actorType === 'peer') {
    const peerNodeId = text(row.details.peerNodeId) ?? text(origin.nodeId);
    if (peerNodeId) item.peerNodeId = peerNodeId;
  }
  if (row.action !== 'access-history.read' && row.resourceId && row.resourceType && REFERENCE_TYPES.has(row.resourceType)) {
    item.reference = { type: row.resourceType, id: row.resourceId };
  }
  return item;
}

const CURSOR = /^h1\.([1-9][0-9]{0,18})$/;

/** Opaque to clients: the id of the last item shown, under a version tag. */
export function encodeCursor(id: string): string {
  return Buffer.from(`h1.${id}`, 'ascii').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!match) throw new ValidationFailed([{ path: 'cursor', code: 'INVALID_FORMAT', message: 'cursor must be a nextCursor from an earlier page' }]);
  return match[1];
}
