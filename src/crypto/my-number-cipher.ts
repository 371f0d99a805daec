import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { aesGcmOpen, aesGcmSeal } from './aes-gcm.js';
import { DataKeysRepository } from './data-keys.repository.js';
import { KeyMaterialError } from './key-material.js';
import { dataKeyAad, MasterKeySealer } from './master-key-sealer.js';

export interface EncryptedMyNumber {
  dataKeyId: string;
  ciphertext: Buffer;
}

/**
 * Envelope encryption of My Numbers: each number is AES-256-GCM-encrypted under a data
 * key; data keys are stored wrapped by a master key (AES-256-GCM too) and unwrapped
 * into memory when first needed. The ciphertext is bound to its institution through
 * the additional authenticated data, so it cannot be moved to another row's owner.
 */
@Injectable()
export class MyNumberCipher implements OnModuleInit {
  private activeDataKey?: { id: string; key: Buffer };
  private readonly unwrapped = new Map<string, Buffer>();

  constructor(
    private readonly sealer: MasterKeySealer,
    private readonly dataKeys: DataKeysRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.ensureActiveDataKey();
  }

  async encrypt(myNumber: string, institutionId: string): Promise<EncryptedMyNumber> {
    const dataKey = this.activeDataKey ?? (await this.ensureActiveDataKey());
    return {
      dataKeyId: dataKey.id,
      ciphertext: aesGcmSeal(dataKey.key, Buffer.from(myNumber, 'ascii'), numberAad(institutionId)),
    };
  }

  async decrypt(encrypted: EncryptedMyNumber, institutionId: string): Promise<string> {
    const key = await this.dataKey(encrypted.dataKeyId);
    return aesGcmOpen(key, encrypted.ciphertext, numberAad(institutionId)).toString('ascii');
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

  private async dataKey(id: string): Promise<Buffer> {
    const cached = this.unwrapped.get(id);
    if (cached) return cached;
    const row = await this.dataKeys.findById(id);
    if (!row) throw new Error(`data key ${id} not found`);
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

/** Additional data of a My Number ciphertext: binds it to its institution. */
export function numberAad(institutionId: string): Buffer {
  return Buffer.from(`kouza-hub:my-number:${institutionId}`, 'utf8');
}
