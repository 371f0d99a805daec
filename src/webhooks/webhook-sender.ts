import { parseRetryAfter } from '../common/http/retry-after.js';
import type { AttemptResult } from './webhook-deliveries.repository.js';

/** What one POST to a receiver came to. */
export interface SendResult extends AttemptResult {
  ok: boolean;
  /** A failed attempt's `Retry-After`, in milliseconds from now (null: none, or not understood). */
  retryAfterMs: number | null;
}

/**
 * POSTs one signed body. Redirects are not followed (a 3xx is a failure: the
 * institution should update its URL), and the receiver's answer is never read, so
 * that no response body reaches our records; `error` is ours and short.
 */
export async function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'user-agent': 'kouza-hub-webhooks/1', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel().catch(() => undefined);
    const ok = response.status >= 200 && response.status < 300;
    return {
      ok,
      statusCode: response.status,
      error: ok ? null : `HTTP ${response.status}`,
      durationMs: elapsed(),
      retryAfterMs: ok ? null : parseRetryAfter(response.headers.get('retry-after')),
    };
  } catch (error) {
    return { ok: false, statusCode: null, error: describeFailure(error, timeoutMs), durationMs: elapsed(), retryAfterMs: null };
  }
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const name = (error as { name?: string })?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = (error as { cause?: { code?: unknown } })?.cause?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return `connection failed (${code})`;
  return 'request failed';
}
