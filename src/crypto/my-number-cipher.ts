import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service.js';
import { aesGcmOpen, aesGcmSeal, ciphertextFormat } from './aes-gcm.js';
import { DataKeysRepository } from './data-keys.repository.js';
import { KeyMaterialError } from './key-material.js';
import { dataKeyAad, MasterKeySealer } from './master-key-sealer.js';

export interface EncryptedMyNumber {
  dataKeyId: string;
  ciphertext: Buffer;
}

/** The tables that hold a My Number ciphertext. */
export type NumberTable = 'subjects' | 'inquiries';

/** The row a ciphertext belongs to: what its additional data names. */
export interface NumberRow {
  table: NumberTable;
  id: string;
  institutionId: string;
  /** The blind-index version the row is indexed under. */
  blindIndexVersion: number;
}

/**
 * A ciphertext that does not open for the row it was read from: moved from another
 * row, altered, or its data key is not the one it names. The caller must fail closed
 * (the number is not read); the message names the row only.
 */
export class CiphertextMismatchError extends Error {
  override name = 'CiphertextMismatchError';

  constructor(readonly row: Pick<NumberRow, 'table' | 'id'>) {
    super(`the My Number ciphertext of ${row.table} ${row.id} does not open for that row`);
  }
}

/** Format 1: bound to the institution only (written before rows were bound). */
const INSTITUTION_BOUND = 1;
/** Format 2: bound to its row (table, id, institution, blind-index version). */
const ROW_BOUND = 2;

/**
 * Envelope encryption of My Numbers: each number is AES-256-GCM-encrypted under a data
 * key; data keys are stored wrapped by a master key (AES-256-GCM too) and unwrapped
 * into memory when first needed.
 *
 * A ciphertext is bound to its row through the additional authenticated data: the
 * table, the row id, the institution and the blind-index version (format 2, the first
 * byte). One moved into another row, even of the same institution, or left under a
 * row re-indexed without it, does not open: CiphertextMismatchError. Ciphertexts
 * written before (format 1) are bound to the institution only; they are still read,
 * and a blind-index rotation re-seals them to their rows (KeyRotationRunner).
 */
@Injectable()
export class MyNumberCipher implements OnModuleInit {
  private activeDataKey?: { id: string; key: Buffer };
  private readonly unwrapped = new Map<string, Buffer>();

  constructor(
    private readonly sealer: MasterKeySealer,
    private readonly dataKeys: DataKeysRepository,
    /** Counts mismatches (KouzaCiphertextMismatch); absent in the CLIs and unit tests. */
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.ensureActiveDataKey();
  }

  /** Seals the number for its row: the row's id and blind-index version must be known first. */
  async encrypt(myNumber: string, row: NumberRow): Promise<EncryptedMyNumber> {
    const dataKey = this.activeDataKey ?? (await this.ensureActiveDataKey());
    return {
      dataKeyId: dataKey.id,
      ciphertext: aesGcmSeal(dataKey.key, Buffer.from(myNumber, 'ascii'), rowAad(row), ROW_BOUND),
    };
  }

  /** Opens the ciphertext read from `row`; CiphertextMismatchError when it is not that row's. */
  async decrypt(encrypted: EncryptedMyNumber, row: NumberRow): Promise<string> {
    const format = ciphertextFormat(encrypted.ciphertext);
    // A data key id that names no data key is an edited row too; a master key that does
    // not unwrap the data key is not (KeyMaterialError: the configuration is wrong).
    const key = format === undefined ? undefined : await this.dataKey(encrypted.dataKeyId);
    if (key === undefined) throw this.mismatch(row);
    try {
      return aesGcmOpen(key, encrypted.ciphertext, format === ROW_BOUND ? rowAad(row) : numberAad(row.institutionId)).toString('ascii');
    } catch {
      throw this.mismatch(row);
    }
  }

  private mismatch(row: NumberRow): CiphertextMismatchError {
    this.metrics?.ciphertextMismatches.inc({ table: row.table });
    return new CiphertextMismatchError(row);
  }

  /** Whether a ciphertext is still in the institution-bound format (re-sealed by a blind-index rotation). */
  static isInstitutionBound(ciphertext: Buffer): boolean {
    return ciphertextFormat(ciphertext) === INSTITUTION_BOUND;
  }

  private async ensureActiveDataKey(): Promise<{ id: string; key: Buffer }> {
    const masterKeyId = this.sealer.activeMasterKeyId;
    let row = await this.dataKeys.findNewestActive(masterKeyId);
    if (!row) {
      const id = randomUUID();
      const wrapped = this.sealer.seal(randomBytes(32), dataKeyAad(id));
      row = await this.dataKeys.insertIfNoneActive({ id, master_key_id: wrapped.masterKeyId, wrapped_key: wrapped.ciphertext });
    }
    const key = this.unwrap(row.id, row.master_key_id, row.wrapped_key);
    this.activeDataKey = { id: row.id, key };
    return this.activeDataKey;
  }

  /** The data key, unwrapped; undefined when there is no data key of that id. */
  private async dataKey(id: string): Promise<Buffer | undefined> {
    const cached = this.unwrapped.get(id);
    if (cached) return cached;
    const row = await this.dataKeys.findById(id);
    if (!row) return undefined;
    return this.unwrap(row.id, row.master_key_id, row.wrapped_key);
  }

  private unwrap(id: string, masterKeyId: string, wrapped: Buffer): Buffer {
    let key: Buffer;
    try {
      key = this.sealer.open({ masterKeyId, ciphertext: wrapped }, dataKeyAad(id));
    } catch (error) {
      if (error instanceof KeyMaterialError) throw error;
      throw new KeyMaterialError(
        `master key "${masterKeyId}" does not unwrap data key ${id}: the configured key is not the one this database was written with`,
      );
    }
    this.unwrapped.set(id, key);
    return key;
  }

}

/** Additional data of a format-1 My Number ciphertext: binds it to its institution. */
export function numberAad(institutionId: string): Buffer {
  return Buffer.from(`kouza-hub:my-number:${institutionId}`, 'utf8');
}

/** Additional data of a format-2 My Number ciphertext: binds it to its row. */
export function rowAad(row: NumberRow): Buffer {
  return Buffer.from(`kouza-hub:my-number:2:${row.table}:${row.id}:${row.institutionId}:${row.blindIndexVersion}`, 'utf8');
}
