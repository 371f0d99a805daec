import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import pg from 'pg';
import { AppConfig } from '../config/app-config.js';
import type { ActiveApiKey } from '../institutions/api-keys.repository.js';

/** Channel on which a revocation is announced, with the key's id as payload. */
export const API_KEY_REVOKED_CHANNEL = 'kouza_api_key_revoked';

const MAX_ENTRIES = 10_000;
const TTL_MS = 60_000;
const RECONNECT_MS = 1000;

/**
 * Active API keys by hash, so that a request does not cost a database read to
 * authenticate. Correct only while this process hears every revocation: entries are
 * used only while a LISTEN connection is up; when it drops, the cache empties and
 * stays off until it listens again. A revocation evicts the key here at once and in
 * every other replica as soon as the NOTIFY arrives (at commit).
 */
@Injectable()
export class ApiKeyCache implements OnModuleInit, OnApplicationShutdown {
  private readonly entries = new Map<string, { key: ActiveApiKey; expiresAt: number }>();
  private listening = false;
  private closed = false;
  private client?: pg.Client;
  /** Bumped by every eviction: a look-up that started before one must not be cached. */
  private generationCounter = 0;

  constructor(
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(ApiKeyCache.name);
  }

  onModuleInit(): void {
    void this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.disable();
    await this.client?.end().catch(() => undefined);
  }

  get generation(): number {
    return this.generationCounter;
  }

  get(hash: string): ActiveApiKey | undefined {
    if (!this.listening) return undefined;
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    if (entry.expiresAt < Date.now()) {
      this.entries.delete(hash);
      return undefined;
    }
    return entry.key;
  }

  /** Caches a key read from the database, unless something was evicted since the read began. */
  set(hash: string, key: ActiveApiKey, generationAtRead: number): void {
    if (!this.listening || generationAtRead !== this.generationCounter) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(hash, { key, expiresAt: Date.now() + TTL_MS });
  }

  evict(keyId: string): void {
    this.generationCounter++;
    for (const [hash, entry] of this.entries) if (entry.key.id === keyId) this.entries.delete(hash);
  }

  private disable(): void {
    this.listening = false;
    this.generationCounter++;
    this.entries.clear();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.config.DATABASE_URL,
      application_name: 'kouza-hub-api-key-cache',
      connectionTimeoutMillis: this.config.DATABASE_CONNECT_TIMEOUT_MS,
      keepAlive: true,
    });
    this.client = client;
    let retried = false;
    const retry = () => {
      if (retried) return;
      retried = true;
      this.disable();
      void client.end().catch(() => undefined);
      if (!this.closed) setTimeout(() => void this.listen(), RECONNECT_MS).unref();
    };
    client.on('notification', (message) => {
      if (message.channel === API_KEY_REVOKED_CHANNEL && message.payload) this.evict(message.payload);
    });
    client.on('error', retry);
    client.on('end', retry);
    try {
      await client.connect();
      await client.query(`LISTEN ${API_KEY_REVOKED_CHANNEL}`);
      if (!retried) this.listening = true;
    } catch (error) {
      this.logger.warn({ err: error }, 'API key cache is off until the database is reachable');
      retry();
    }
  }
}
