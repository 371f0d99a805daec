import { createHmac } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { KEY_MATERIAL } from './crypto.tokens.js';
import type { KeyMaterial } from './key-material.js';

export interface BlindIndexValue {
  version: number;
  digest: Buffer;
}

/**
 * Keyed blind index of a My Number: HMAC-SHA-256 under a key that never leaves the
 * service, so the column cannot be reversed by trying all 10^11 valid numbers.
 * Every stored index carries its key version; look-ups compute one index per known
 * version so that rows written before a rotation are still found.
 */
@Injectable()
export class BlindIndex {
  private readonly versions: number[];

  constructor(@Inject(KEY_MATERIAL) private readonly keys: KeyMaterial) {
    // Active version first: it is the one that finds new rows.
    this.versions = [
      keys.activeBlindIndexVersion,
      ...[...keys.blindIndexKeys.keys()].filter((v) => v !== keys.activeBlindIndexVersion),
    ];
  }

  get activeVersion(): number {
    return this.keys.activeBlindIndexVersion;
  }

  /** The index to store for a new row. */
  compute(myNumber: string): BlindIndexValue {
    return this.computeWith(this.keys.activeBlindIndexVersion, myNumber);
  }

  /** The indexes to look a number up by, one per key version held. */
  computeAll(myNumber: string): BlindIndexValue[] {
    return this.versions.map((version) => this.computeWith(version, myNumber));
  }

  /** Whether this process holds the key of this version. */
  holds(version: number): boolean {
    return this.keys.blindIndexKeys.has(version);
  }

  /** The index under one given version (the rotation job re-indexes rows with it). */
  computeWith(version: number, myNumber: string): BlindIndexValue {
    const key = this.keys.blindIndexKeys.get(version);
    if (!key) throw new Error(`no blind-index key of version ${version}`);
    return { version, digest: createHmac('sha256', key).update(myNumber, 'ascii').digest() };
  }
}
