import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { formatWebhookSecret, generateWebhookSecret, signWebhook, webhookHeaders } from './webhook-signature.js';

describe('Standard Webhooks signing', () => {
  it('matches the specification reference libraries on their published example', () => {
    // The example the Standard Webhooks libraries test their Sign against.
    const secret = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64');
    expect(signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('generates 32-byte secrets shown as whsec_<base64>', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    expect(a).toHaveLength(32);
    expect(a.equals(b)).toBe(false);
    const shown = formatWebhookSecret(a);
    expect(shown).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(shown.slice('whsec_'.length), 'base64').equals(a)).toBe(true);
  });

  it('headers carry the id, the attempt time in seconds and the signature of id.timestamp.body', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'inquiry.completed', timestamp: '2026-04-01T00:00:00.000Z', data: { inquiryId: 'x' } });
    const headers = webhookHeaders(secret, 'delivery-1', body, new Date('2026-04-01T00:00:09.999Z'));
    expect(headers).toEqual({
      'content-type': 'application/json',
      'webhook-id': 'delivery-1',
      'webhook-timestamp': String(Date.parse('2026-04-01T00:00:09Z') / 1000),
      'webhook-signature': expect.stringMatching(/^v1,/),
    });
    const expected = createHmac('sha256', secret).update(`delivery-1.${headers['webhook-timestamp']}.${body}`).digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${expected}`);
    // Any change to the body breaks it.
    expect(signWebhook(secret, 'delivery-1', Number(headers['webhook-timestamp']), body + ' ')).not.toBe(headers['webhook-signature']);
  });

  it('during a rotation\'s overlap: one signature per secret, the current one first, space-separated', () => {
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = webhookHeaders([current, previous], 'delivery-2', '{}', new Date('2026-04-01T00:00:00Z'));
    const timestamp = Number(headers['webhook-timestamp']);
    expect(headers['webhook-signature']).toBe(`${signWebhook(current, 'delivery-2', timestamp, '{}')} ${signWebhook(previous, 'delivery-2', timestamp, '{}')}`);
  });
});
