import { Injectable } from '@nestjs/common';
import { MasterKeySealer, webhookSecretAad, type MasterSealed } from '../crypto/master-key-sealer.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import { formatWebhookSecret, generateWebhookSecret } from './webhook-signature.js';

/** A signing secret as stored: sealed under a master key, with that key's id. */
export type SealedWebhookSecret = MasterSealed;

/**
 * Institutions' webhook signing secrets. The service must hold them in a form it can
 * use (an HMAC key, unlike an API key, cannot be kept as a hash), so they are sealed
 * with AES-256-GCM under the active master key, bound to the institution by the
 * additional data so that a ciphertext copied to another row does not open.
 */
@Injectable()
export class WebhookSecrets {
  constructor(private readonly sealer: MasterKeySealer) {}

  /**
   * Generates a new secret for an institution that has a webhook URL, stores it
   * sealed and returns it as `whsec_...`: the only time it is shown. With
   * `overlapSeconds` the secret it replaces keeps signing, next to the new one, for
   * that long (a rotation); without, it is gone at once (a new URL).
   */
  async issue(executor: SqlExecutor, institutionId: string, overlapSeconds = 0): Promise<string> {
    const secret = generateWebhookSecret();
    const sealed = this.seal(secret, institutionId);
    await executor.query(
      `UPDATE institutions
          SET webhook_previous_secret_ciphertext = CASE WHEN $4 > 0 THEN webhook_secret_ciphertext END,
              webhook_previous_secret_master_key_id = CASE WHEN $4 > 0 THEN webhook_secret_master_key_id END,
              webhook_previous_secret_until = CASE WHEN $4 > 0 AND webhook_secret_ciphertext IS NOT NULL
                                                   THEN now() + $4 * interval '1 second' END,
              webhook_secret_ciphertext = $2, webhook_secret_master_key_id = $3
        WHERE id = $1 AND webhook_url IS NOT NULL`,
      [institutionId, sealed.ciphertext, sealed.masterKeyId, overlapSeconds],
    );
    return formatWebhookSecret(secret);
  }

  seal(secret: Buffer, institutionId: string): SealedWebhookSecret {
    return this.sealer.seal(secret, webhookSecretAad(institutionId));
  }

  open(sealed: SealedWebhookSecret, institutionId: string): Buffer {
    return this.sealer.open(sealed, webhookSecretAad(institutionId));
  }
}
