import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema.js';

export type { components, operations, paths };
export { verifyWebhookSignature, WebhookVerificationError, type VerifyWebhookOptions, type WebhookEvent } from './webhook.js';

/** A schema of the API's document by name, e.g. `Schema<'AttachmentView'>`. */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];
/** The problem+json body every error answer carries (`code` is stable). */
export type Problem = components['schemas']['ProblemDto'];

export type KouzaHubClient = Client<paths>;

export interface KouzaHubClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** The deployment's base URL, e.g. `https://kouza-hub.bank.internal` (no trailing slash). */
  baseUrl: string;
  /** An institution API key (or the operator key): sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
}

/**
 * The typed client of kouza-hub: `client.POST('/v1/linkages', { body })` and so on,
 * paths, bodies, parameters and answers typed from the OpenAPI document
 * (openapi-fetch). Each call resolves to `{ data }` on success or `{ error }` (a
 * Problem) with `response`.
 */
export function createKouzaHubClient(options: KouzaHubClientOptions): KouzaHubClient {
  const { apiKey, headers, ...rest } = options;
  return createClient<paths>({
    ...rest,
    headers: { ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}), ...(headers as Record<string, string> | undefined) },
  });
}
