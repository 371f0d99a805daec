import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a kouza-hub webhook delivery carries (`type` tells which `data`). */
export type WebhookEvent =
  | { type: 'inquiry.completed'; timestamp: string; data: { inquiryId: string; kind: 'inheritance' | 'disaster'; status: string } }
  | { type: 'numbering-request.completed'; timestamp: string; data: { numberingRequestId: string; status: string } };

export interface VerifyWebhookOptions {
  /** The institution's secret as kouza-hub showed it once: `whsec_<base64>`. */
  secret: string;
  /** The request's headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`), names in any case. */
  headers: Record<string, string | string[] | undefined> | Headers;
  /** The raw body exactly as received (not re-serialized JSON). */
  body: string | Uint8Array;
  /** Refuse a timestamp further than this from `now` (default 300 s). */
  toleranceSeconds?: number;
  now?: Date;
}

export class WebhookVerificationError extends Error {}

/**
 * Verifies a webhook delivery as the Standard Webhooks specification says
 * (https://www.standardwebhooks.com): `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
 * any of the space-separated signatures (two during a secret rotation's overlap),
 * compared in constant time, and a timestamp within the tolerance. Returns the parsed
 * event and its `webhook-id` (the same on every attempt: ignore an id already seen);
 * throws WebhookVerificationError otherwise.
 *
 * Hand-written (30 lines over node:crypto) rather than the `standardwebhooks`
 * package, so that the client has one dependency.
 */
export function verifyWebhookSignature(options: VerifyWebhookOptions): { id: string; event: WebhookEvent } {
  const header = (name: string): string | undefined => {
    if (typeof (options.headers as Headers).get === 'function') return (options.headers as Headers).get(name) ?? undefined;
    const entry = Object.entries(options.headers).find(([key]) => key.toLowerCase() === name);
    const value = entry?.[1];
    return Array.isArray(value) ? value[0] : (value as string | undefined);
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('webhook-id, webhook-timestamp and webhook-signature are required');
  if (!/^\d+$/.test(timestamp)) throw new WebhookVerificationError('webhook-timestamp is not Unix seconds');
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? 300)) throw new WebhookVerificationError('webhook-timestamp is too far from now');
  if (!options.secret.startsWith('whsec_')) throw new WebhookVerificationError('the secret is whsec_<base64>');
  const key = Buffer.from(options.secret.slice('whsec_'.length), 'base64');
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : Buffer.from(options.body);
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  const matches = signatures.split(' ').some((candidate) => {
    const [version, mac] = candidate.split(',', 2);
    if (version !== 'v1' || !mac) return false;
    const given = Buffer.from(mac, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new WebhookVerificationError('no signature matches');
  return { id, event: JSON.parse(body.toString('utf8')) as WebhookEvent };
}
