import { createHmac, randomBytes } from 'node:crypto';

/**
 * Signing as the Standard Webhooks specification (https://www.standardwebhooks.com)
 * describes it, so that a receiver can verify with any of its libraries:
 * `webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`,
 * the secret shown to people as `whsec_<base64>`.
 */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** The specification asks for 24 to 64 random bytes. */
export const WEBHOOK_SECRET_BYTES = 32;

export function generateWebhookSecret(): Buffer {
  return randomBytes(WEBHOOK_SECRET_BYTES);
}

export function formatWebhookSecret(secret: Buffer): string {
  return WEBHOOK_SECRET_PREFIX + secret.toString('base64');
}

/** The value of the `webhook-signature` header for one attempt. */
export function signWebhook(secret: Buffer, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${id}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/**
 * The headers of one attempt: the id stays the same across retries, the timestamp does
 * not. Signed with each secret given (the current one first; during a rotation's
 * overlap the previous one too), space-separated, as the specification allows.
 */
export function webhookHeaders(secrets: Buffer | Buffer[], id: string, body: string, now = new Date()): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': [secrets]
      .flat()
      .map((secret) => signWebhook(secret, id, timestamp, body))
      .join(' '),
  };
}
