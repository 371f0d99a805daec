import { Injectable } from '@nestjs/common';
import { MyNumberCipher } from '../../crypto/my-number-cipher.js';
import type { FanoutKind } from '../inquiry.types.js';
import { FanoutRepository } from './fanout.repository.js';
import type { FanoutInquiryRow } from './fanout.repository.js';

export interface FanoutInquiry extends Omit<FanoutInquiryRow, 'ciphertext' | 'dataKeyId' | 'blindIndexVersion' | 'targetCodes'> {
  myNumber: string;
  targets: ReadonlySet<string> | null;
}

export interface Fanout {
  id: string;
  kind: FanoutKind | undefined;
  inquiries: FanoutInquiry[];
}

/** How long a worker keeps a fan-out's decrypted numbers after first use. */
const TTL_MS = 5 * 60_000;

/**
 * A fan-out's inquiries, read and decrypted once per worker process rather than by
 * each of its (up to thousands of) node jobs. Held in memory only, dropped when the
 * fan-out completes or after a few minutes.
 */
@Injectable()
export class FanoutCache {
  private readonly entries = new Map<string, { fanout: Promise<Fanout>; timer: NodeJS.Timeout }>();

  constructor(
    private readonly repository: FanoutRepository,
    private readonly cipher: MyNumberCipher,
  ) {}

  get(fanoutId: string): Promise<Fanout> {
    const cached = this.entries.get(fanoutId);
    if (cached) return cached.fanout;
    const fanout = this.load(fanoutId);
    const timer = setTimeout(() => this.entries.delete(fanoutId), TTL_MS).unref();
    this.entries.set(fanoutId, { fanout, timer });
    fanout.catch(() => this.forget(fanoutId));
    return fanout;
  }

  forget(fanoutId: string): void {
    const cached = this.entries.get(fanoutId);
    if (cached) clearTimeout(cached.timer);
    this.entries.delete(fanoutId);
  }

  private async load(fanoutId: string): Promise<Fanout> {
    const rows = await this.repository.inquiries(fanoutId);
    const inquiries = await Promise.all(
      rows.map(async ({ ciphertext, dataKeyId, blindIndexVersion, targetCodes, ...row }) => ({
        ...row,
        // A ciphertext that is not this row's (CiphertextMismatchError) fails the load:
        // the fan-out's jobs fail and retry, and no node is asked about another number.
        myNumber: await this.cipher.decrypt(
          { ciphertext, dataKeyId },
          { table: 'inquiries', id: row.id, institutionId: row.institutionId, blindIndexVersion: Number(blindIndexVersion) },
        ),
        targets: targetCodes ? new Set(targetCodes) : null,
      })),
    );
    return { id: fanoutId, kind: inquiries[0]?.kind, inquiries };
  }
}

/** Whether an inquiry asked this institution. */
export const asks = (inquiry: FanoutInquiry, code: string): boolean => !inquiry.targets || inquiry.targets.has(code);
