import type { JWK } from 'jose';
import { importPeerKeys, type PeerKeys } from '../peers/envelope.js';

/** What a node publishes at `GET /v1/node` (and what `POST /trust` takes). */
export interface PublishedNode {
  nodeId: string;
  signingKey: JWK;
  encryptionKey: JWK;
}

/** A refetch on an unknown kid happens at most this often, so that unknown senders cannot make us hammer the URL. */
const REFETCH_INTERVAL_MS = 1000;
const FETCH_TIMEOUT_MS = 5000;

/**
 * The kouza-hub nodes whose messages the simulated nodes answer. Keys come from
 * `POST /trust` or from `GET /v1/node` URLs, fetched when a kid is first unknown
 * (and again later, in case the node's keys were replaced), imported once.
 */
export class TrustStore {
  private readonly keys = new Map<string, PeerKeys>();
  private refreshing: Promise<void> | undefined;
  private lastRefresh = Number.NEGATIVE_INFINITY;

  constructor(private readonly urls: readonly string[]) {}

  async trust(node: PublishedNode): Promise<PeerKeys> {
    const keys = await importPeerKeys(node.nodeId, node.signingKey, node.encryptionKey);
    this.keys.set(node.nodeId, keys);
    return keys;
  }

  /** The resolver openEnvelope calls with the sender's node id (the JWE header's iss). */
  readonly resolve = async (kid: string): Promise<PeerKeys | undefined> => {
    const known = this.keys.get(kid);
    if (known || this.urls.length === 0) return known;
    await this.refresh();
    return this.keys.get(kid);
  };

  /** One fetch of every URL at a time; callers arriving meanwhile share it. */
  private refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (Date.now() - this.lastRefresh < REFETCH_INTERVAL_MS) return Promise.resolve();
    this.lastRefresh = Date.now();
    this.refreshing = Promise.allSettled(this.urls.map((url) => this.fetchNode(url))).then(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async fetchNode(url: string): Promise<void> {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      await this.trust((await response.json()) as PublishedNode);
    } catch (error) {
      // Rare (once per refetch) and carries no personal data: worth telling the operator.
      console.warn(`simulator: cannot fetch the trusted node at ${url}: ${(error as Error).message}`);
    }
  }
}
