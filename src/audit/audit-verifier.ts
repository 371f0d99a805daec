import { Injectable } from '@nestjs/common';
import { chainHash, GENESIS_HASH } from './audit-hash.js';
import { AuditRepository } from './audit.repository.js';

export interface AuditProblem {
  seq?: string;
  eventId: string;
  kind: 'event-modified' | 'event-missing' | 'link-modified' | 'sequence-gap' | 'unsealed';
}

export interface AuditVerification {
  ok: boolean;
  checkedLinks: number;
  events: number;
  /** Rows older than the grace period that are not in the chain yet. */
  unsealed: number;
  problems: AuditProblem[];
}

const PAGE = 5000;
const MAX_PROBLEMS = 100;
/** Rows younger than this may simply not be sealed yet. */
const SEAL_GRACE_SECONDS = 60;

/** Walks the whole chain, recomputing every hash from the rows as they are now. */
@Injectable()
export class AuditVerifier {
  constructor(private readonly audit: AuditRepository) {}

  async verify(): Promise<AuditVerification> {
    const problems: AuditProblem[] = [];
    const note = (p: AuditProblem) => {
      if (problems.length < MAX_PROBLEMS) problems.push(p);
    };
    let prev: Buffer = GENESIS_HASH;
    let expectedSeq = 1n;
    let checked = 0;
    let after = '0';
    for (;;) {
      const page = await this.audit.chainPage(after, PAGE);
      for (const link of page) {
        checked++;
        if (BigInt(link.seq) !== expectedSeq) note({ seq: link.seq, eventId: link.event_id, kind: 'sequence-gap' });
        expectedSeq = BigInt(link.seq) + 1n;
        if (!link.prev_hash.equals(prev)) note({ seq: link.seq, eventId: link.event_id, kind: 'link-modified' });
        if (!link.event) {
          note({ seq: link.seq, eventId: link.event_id, kind: 'event-missing' });
        } else if (!chainHash(link.prev_hash, link.event).equals(link.hash)) {
          note({ seq: link.seq, eventId: link.event_id, kind: 'event-modified' });
        }
        prev = link.hash;
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1].seq;
    }
    const unsealed = await this.audit.findUnsealedOlderThan(SEAL_GRACE_SECONDS, 20);
    for (const eventId of unsealed.firstIds) note({ eventId, kind: 'unsealed' });
    return {
      ok: problems.length === 0,
      checkedLinks: checked,
      events: await this.audit.countEvents(),
      unsealed: unsealed.count,
      problems,
    };
  }
}
