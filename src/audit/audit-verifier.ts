import { Inject, Injectable } from '@nestjs/common';
import { KEY_MATERIAL } from '../crypto/crypto.tokens.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import type { AuditCheckpoint } from './audit-checkpoint.js';
import { GENESIS_HASH, KEYED_LINK, linkHash, PLAIN_LINK } from './audit-hash.js';
import { AuditRepository } from './audit.repository.js';

export interface AuditProblem {
  seq?: string;
  eventId?: string;
  kind:
    | 'event-modified'
    | 'event-missing'
    | 'link-modified'
    | 'sequence-gap'
    | 'unsealed'
    /** A plain (unkeyed) link after a keyed one: a tail re-hashed without AUDIT_CHAIN_KEY. */
    | 'link-downgraded'
    /** The chain ends before a signed checkpoint's seq: links were cut after it was sealed. */
    | 'checkpoint-beyond-chain'
    /** The link at a signed checkpoint's seq has another hash: the chain was rewritten. */
    | 'checkpoint-mismatch';
  /** For checkpoint problems: where the checkpoint came from (`file`, or `witness:<nodeId>`). */
  source?: string;
}

/** A signed checkpoint found outside the database, and where. */
export interface CheckpointEvidence {
  source: string;
  checkpoint: AuditCheckpoint;
}

export interface AuditVerification {
  ok: boolean;
  checkedLinks: number;
  events: number;
  /** Rows older than the grace period that are not in the chain yet. */
  unsealed: number;
  problems: AuditProblem[];
  /** The checkpoints the chain was checked against (the newest of each source found). */
  checkpoints: Array<{ source: string; seq: string; signedAt: string }>;
  /** What the sources of checkpoints answered, e.g. a witness that could not be asked. */
  checkpointSources: Array<{ source: string; status: string }>;
}

const PAGE = 5000;
const MAX_PROBLEMS = 100;
/** Rows younger than this may simply not be sealed yet. */
const SEAL_GRACE_SECONDS = 60;

/**
 * Walks the whole chain, recomputing every link from the rows as they are now (each
 * by its version: plain SHA-256 for links sealed before the chain was keyed, HMAC under
 * AUDIT_CHAIN_KEY after), then checks the chain against the signed checkpoints given
 * (the checkpoint log's, the witnesses'): those catch what a consistent chain cannot
 * show, a tail cut off or a chain rewritten as a whole.
 */
@Injectable()
export class AuditVerifier {
  constructor(
    private readonly audit: AuditRepository,
    @Inject(KEY_MATERIAL) private readonly keys: KeyMaterial,
  ) {}

  async verify(
    evidence: CheckpointEvidence[] = [],
    checkpointSources: AuditVerification['checkpointSources'] = [],
  ): Promise<AuditVerification> {
    const key = this.keys.auditChainKey;
    if (!key) throw new Error('AUDIT_CHAIN_KEY is not loaded: the audit chain cannot be verified');
    const problems: AuditProblem[] = [];
    const note = (p: AuditProblem) => {
      if (problems.length < MAX_PROBLEMS) problems.push(p);
    };
    let prev: Buffer = GENESIS_HASH;
    let expectedSeq = 1n;
    let checked = 0;
    let keyed = false;
    let after = '0';
    for (;;) {
      const page = await this.audit.chainPage(after, PAGE);
      for (const link of page) {
        checked++;
        if (BigInt(link.seq) !== expectedSeq) note({ seq: link.seq, eventId: link.event_id, kind: 'sequence-gap' });
        expectedSeq = BigInt(link.seq) + 1n;
        if (!link.prev_hash.equals(prev)) note({ seq: link.seq, eventId: link.event_id, kind: 'link-modified' });
        if (link.link_version === KEYED_LINK) keyed = true;
        else if (keyed || link.link_version !== PLAIN_LINK) note({ seq: link.seq, eventId: link.event_id, kind: 'link-downgraded' });
        if (!link.event) {
          note({ seq: link.seq, eventId: link.event_id, kind: 'event-missing' });
        } else if (!linkHash(link.link_version, key, link.prev_hash, link.event).equals(link.hash)) {
          note({ seq: link.seq, eventId: link.event_id, kind: 'event-modified' });
        }
        prev = link.hash;
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1].seq;
    }
    for (const { source, checkpoint } of evidence) {
      const link = await this.audit.linkAt(checkpoint.seq);
      if (!link) note({ seq: checkpoint.seq, kind: 'checkpoint-beyond-chain', source });
      else if (link.hash.toString('base64url') !== checkpoint.head) note({ seq: checkpoint.seq, kind: 'checkpoint-mismatch', source });
    }
    const unsealed = await this.audit.findUnsealedOlderThan(SEAL_GRACE_SECONDS, 20);
    for (const eventId of unsealed.firstIds) note({ eventId, kind: 'unsealed' });
    return {
      ok: problems.length === 0,
      checkedLinks: checked,
      events: await this.audit.countEvents(),
      unsealed: unsealed.count,
      problems,
      checkpoints: evidence.map(({ source, checkpoint }) => ({ source, seq: checkpoint.seq, signedAt: checkpoint.signedAt })),
      checkpointSources,
    };
  }
}
