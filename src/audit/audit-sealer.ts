import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { KEY_MATERIAL } from '../crypto/crypto.tokens.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import { GENESIS_HASH, KEYED_LINK, keyedChainHash } from './audit-hash.js';
import { AuditRepository, ChainLink } from './audit.repository.js';

const BATCH = 5000;
const LOOK_BACK_IDS = 20_000;

/**
 * Seals new audit rows into the hash chain, behind the writes, like a transparency
 * log: writers only append rows (no lock, no shared head), and one sealer at a time
 * (an advisory lock) links them in batches. A sealed row edited or deleted breaks
 * the chain at that row; verification finds it. Links are HMAC-SHA-256 under
 * AUDIT_CHAIN_KEY (link version 2), so that the database's administrators, who can
 * rewrite rows, cannot recompute the links after them.
 */
@Injectable()
export class AuditSealer {
  constructor(
    private readonly db: DataSource,
    private readonly audit: AuditRepository,
    @Inject(KEY_MATERIAL) private readonly keys: KeyMaterial,
  ) {}

  /** Seals what is waiting; returns how many rows it sealed (0 if another sealer runs). */
  async sealPending(): Promise<number> {
    let total = 0;
    for (;;) {
      const sealed = await this.sealBatch();
      total += sealed;
      if (sealed < BATCH) return total;
    }
  }

  /** The newest link, printed so that the chain is anchored outside the database too. */
  async headSummary(): Promise<{ seq: string; hash: string } | undefined> {
    const head = await this.head();
    return head && { seq: head.seq, hash: head.hash.toString('base64url') };
  }

  /** The newest link (what a checkpoint signs). */
  head(): Promise<ChainLink | undefined> {
    return this.audit.chainHead(this.db);
  }

  /** The hash at one position of the chain, if the chain reaches it. */
  async hashAt(seq: string): Promise<Buffer | undefined> {
    return (await this.audit.linkAt(seq))?.hash;
  }

  private sealBatch(): Promise<number> {
    const key = this.keys.auditChainKey;
    if (!key) throw new Error('AUDIT_CHAIN_KEY is not loaded: the audit chain cannot be sealed');
    return this.db.transaction(async (tx) => {
      const [{ locked }] = await tx.query(`SELECT pg_try_advisory_xact_lock(hashtext('kouza:audit-sealer')) AS locked`);
      if (!locked) return 0;
      const rows = await this.audit.findUnsealed(tx, LOOK_BACK_IDS, BATCH);
      if (rows.length === 0) return 0;
      const head = await this.audit.chainHead(tx);
      let seq = head ? BigInt(head.seq) : 0n;
      let prev: Buffer = head ? head.hash : GENESIS_HASH;
      const links: ChainLink[] = rows.map((row) => {
        seq += 1n;
        const hash = keyedChainHash(key, prev, row);
        const link: ChainLink = { seq: seq.toString(), event_id: row.id, prev_hash: prev, hash, link_version: KEYED_LINK };
        prev = hash;
        return link;
      });
      await this.audit.appendLinks(tx, links);
      return links.length;
    });
  }
}
