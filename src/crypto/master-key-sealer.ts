import { Inject, Injectable } from '@nestjs/common';
import { aesGcmOpen, aesGcmSeal } from './aes-gcm.js';
import { KEY_MATERIAL } from './crypto.tokens.js';
import { KeyMaterialError, type KeyMaterial } from './key-material.js';

/** A secret as stored: AES-256-GCM under one master key, with that key's id. */
export interface MasterSealed {
  masterKeyId: string;
  ciphertext: Buffer;
}

/**
 * The one place that uses the master keys: data keys (MyNumberCipher) and webhook
 * signing secrets (WebhookSecrets) are sealed here, each bound to its row by the
 * additional data. Sealing always uses the active master key; opening uses the key
 * the row names, so that during a master-key rotation both old and new rows open.
 * `reseal` is what the rotation job does to a row.
 */
@Injectable()
export class MasterKeySealer {
  constructor(@Inject(KEY_MATERIAL) private readonly keys: KeyMaterial) {}

  get activeMasterKeyId(): string {
    return this.keys.activeMasterKeyId;
  }

  /** Whether this process holds the master key with this id. */
  holds(masterKeyId: string): boolean {
    return this.keys.masterKeys.has(masterKeyId);
  }

  /** Seals under the active master key, or under `masterKeyId` (a rotation's target). */
  seal(plaintext: Buffer, aad: Buffer, masterKeyId = this.keys.activeMasterKeyId): MasterSealed {
    return { masterKeyId, ciphertext: aesGcmSeal(this.masterKey(masterKeyId), plaintext, aad) };
  }

  open(sealed: MasterSealed, aad: Buffer): Buffer {
    return aesGcmOpen(this.masterKey(sealed.masterKeyId), sealed.ciphertext, aad);
  }

  /** The same secret sealed under `to` (the active master key unless named; unchanged if it already is). */
  reseal(sealed: MasterSealed, aad: Buffer, to = this.keys.activeMasterKeyId): MasterSealed {
    if (sealed.masterKeyId === to) return sealed;
    return this.seal(this.open(sealed, aad), aad, to);
  }

  private masterKey(id: string): Buffer {
    const key = this.keys.masterKeys.get(id);
    if (!key) throw new KeyMaterialError(`master key "${id}" is not configured (MASTER_KEYS)`);
    return key;
  }
}

/** Additional data of a data key: binds the wrapped key to its data_keys row. */
export function dataKeyAad(dataKeyId: string): Buffer {
  return Buffer.from(`kouza-hub:data-key:${dataKeyId}`, 'utf8');
}

/** Additional data of an institution's webhook signing secret. */
export function webhookSecretAad(institutionId: string): Buffer {
  return Buffer.from(`kouza-hub:webhook-secret:${institutionId}`, 'utf8');
}
