import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { DomainError, notFound, ValidationFailed } from '../common/errors/domain-error.js';
import { INSTITUTION_CODE_TAKEN, pgErrorCode } from '../database/pg-errors.js';
import type { PeerDto, RegisterPeerDto } from './dto/peer.dto.js';
import { importPeerKeys, okpThumbprint, type NodeIdentity } from './envelope.js';
import { KeyStatementError, verifyKeyStatement } from './key-statement.js';
import { AppConfig } from '../config/app-config.js';
import { parsePublishedNodeKeys, PeerClient, PeerUnreachableError, type PublishedNodeKeys } from './peer-client.js';
import { PeerRecord, PeersRepository } from './peers.repository.js';
import { PinoLogger } from 'nestjs-pino';
import { MetricsService } from '../metrics/metrics.service.js';
import { NODE_IDENTITY } from './peers.tokens.js';

/** Only the members that define a public key are kept, whatever else the operator sent. */
const publicJwk = (jwk: Record<string, unknown>) => ({ kty: 'OKP', crv: String(jwk.crv), x: String(jwk.x) });

/** The operator's registry of peer nodes and the institutions behind them. */
@Injectable()
export class PeersService {
  constructor(
    @Inject(NODE_IDENTITY) private readonly identity: NodeIdentity,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly db: DataSource,
    private readonly peers: PeersRepository,
    private readonly audit: AuditService,
    private readonly client: PeerClient,
    private readonly logger: PinoLogger,
    private readonly metrics: MetricsService,
  ) {
    logger.setContext(PeersService.name);
  }

  /**
   * Registers a peer node, or, for a node id already registered, replaces its endpoint,
   * keys and institutions and enables it again (what an operator re-running the same
   * registration expects). An institution code hosted here or behind another peer is
   * refused with INSTITUTION_EXISTS.
   */
  async register(dto: RegisterPeerDto, actor: AuditActor): Promise<{ peer: PeerDto; created: boolean }> {
    if (dto.nodeId === this.identity.nodeId) {
      throw new ValidationFailed([{ path: 'nodeId', code: 'INVALID_VALUE', message: "nodeId is this node's own id" }]);
    }
    // Node-to-node traffic carries My Numbers: in production only over TLS (the envelope
    // protects the content, TLS also who is talking and the key refresh's GET /v1/node).
    if (this.config.isProduction && !/^https:\/\//i.test(dto.endpointUrl)) {
      throw new ValidationFailed([{ path: 'endpointUrl', code: 'INVALID_VALUE', message: 'endpointUrl must be https in production' }]);
    }
    let previousSigningKeys: PublishedNodeKeys['previousSigningKeys'] | undefined;
    if (dto.keys !== undefined) {
      try {
        ({ previousSigningKeys } = parsePublishedNodeKeys({ ...dto }));
      } catch (error) {
        if (!(error instanceof PeerUnreachableError)) throw error;
        throw new ValidationFailed([{ path: 'keys', code: 'INVALID_VALUE', message: 'keys must be as GET /v1/node shows them' }]);
      }
    }
    const taken = (codes: string[]) =>
      new DomainError('INSTITUTION_EXISTS', `Institution ${codes.join(', ')} is hosted here or behind another peer node`);
    try {
      return await this.db.transaction(async (tx) => {
        const { id, created } = await this.peers.upsert(tx, {
          id: randomUUID(),
          nodeId: dto.nodeId,
          endpointUrl: dto.endpointUrl.replace(/\/+$/, ''),
          signingKey: publicJwk(dto.signingKey),
          encryptionKey: publicJwk(dto.encryptionKey),
          previousSigningKeys,
          queriesPerMinute: dto.queriesPerMinute,
        });
        const behindOtherPeers = await this.peers.replaceInstitutions(tx, id, dto.institutions);
        if (behindOtherPeers.length > 0) throw taken(behindOtherPeers);
        await this.audit.record(tx, actor, {
          action: 'peer.register',
          resourceType: 'peer',
          resourceId: id,
          details: {
            nodeId: dto.nodeId,
            created,
            institutionCodes: dto.institutions.map((i) => i.code),
            ...(dto.queriesPerMinute === undefined ? {} : { queriesPerMinute: dto.queriesPerMinute }),
          },
        });
        return { peer: toPeerDto((await this.peers.findByNodeId(dto.nodeId, tx))!), created };
      });
    } catch (error) {
      if (pgErrorCode(error) !== INSTITUTION_CODE_TAKEN) throw error;
      throw taken([(error as { detail?: string }).detail ?? '']);
    }
  }

  async list(): Promise<PeerDto[]> {
    return (await this.peers.list()).map(toPeerDto);
  }

  async get(nodeId: string): Promise<PeerDto> {
    const peer = await this.peers.findByNodeId(nodeId);
    if (!peer) throw notFound(`Peer node ${nodeId}`);
    return toPeerDto(peer);
  }

  /**
   * Fetches the peer's GET /v1/node and stores what it publishes: current keys (messages
   * to it are sealed to the new encryption key from now on, in every process: the keys
   * are read from the database) and previous signing keys with their notAfter. The
   * published node id must be the peer's: an endpoint now serving another node is refused.
   *
   * New keys only on the peer's own say-so: keys that differ from those stored (a new
   * current key, or a previous one not stored or kept longer) are believed only from the
   * peer's key statement, signed by a key already trusted for it and newer than the last
   * believed (a genuine but older statement changes nothing and is not an error: a
   * process of the peer not yet restarted on new keys). Otherwise the change is refused (PEER_KEY_CHANGE_UNENDORSED), counted,
   * audited and logged, and what was stored stays: re-registering the peer
   * (POST /v1/peers) is the operator's way to accept such keys.
   */
  async refreshKeys(nodeId: string, actor: AuditActor): Promise<PeerDto> {
    const peer = await this.peers.findByNodeId(nodeId);
    if (!peer) throw notFound(`Peer node ${nodeId}`);
    let published: PublishedNodeKeys;
    try {
      published = await this.client.fetchNodeKeys(peer.endpointUrl);
    } catch (error) {
      if (!(error instanceof PeerUnreachableError)) throw error;
      throw new DomainError('PEER_KEYS_UNAVAILABLE', `${nodeId}: ${error.message}`, { reason: error.reason });
    }
    if (published.nodeId !== nodeId) {
      throw new DomainError('PEER_KEYS_UNAVAILABLE', `${nodeId}: its endpoint publishes the keys of another node id`, {
        reason: 'wrong-node-id',
      });
    }
    const changed = published.signingKey.x !== peer.signingKey.x || published.encryptionKey.x !== peer.encryptionKey.x;
    let keys: PublishedNodeKeys = published;
    let statementIat: number | undefined;
    let stale = false;
    if (!keysWithin(published, peer)) {
      try {
        ({ keys, iat: statementIat } = await endorsedKeys(published, peer));
      } catch (error) {
        if (!(error instanceof KeyStatementError)) throw error;
        if (error.reason !== 'stale') throw await this.refuseKeyChange(peer, published, error, actor);
        // The peer's own statement, older than the one believed (a process of the peer
        // not yet restarted on its new keys, or a replay): nothing changes, no alarm.
        stale = true;
        keys = { ...published, signingKey: peer.signingKey, encryptionKey: peer.encryptionKey, previousSigningKeys: peer.previousSigningKeys ?? [] };
        this.logger.info({ peerNodeId: nodeId }, "a peer's endpoint shows an older key statement than the one believed; keys kept");
      }
    }
    return this.db.transaction(async (tx) => {
      await this.peers.updateKeys(tx, peer.id, keys, statementIat);
      await this.audit.record(tx, actor, {
        action: 'peer.refresh-keys',
        resourceType: 'peer',
        resourceId: peer.id,
        details: {
          nodeId,
          changed: changed && !stale,
          previousSigningKeys: keys.previousSigningKeys.length,
          ...(stale ? { staleStatement: true } : {}),
        },
      });
      return toPeerDto((await this.peers.findByNodeId(nodeId, tx))!);
    });
  }

  /** Counts, audits and logs a key change the peer did not endorse; returns the refusal. */
  private async refuseKeyChange(peer: PeerRecord, published: PublishedNodeKeys, error: KeyStatementError, actor: AuditActor): Promise<DomainError> {
    this.metrics.peerKeyChangesRefused.inc({ node: peer.nodeId, reason: error.reason });
    const details = {
      nodeId: peer.nodeId,
      reason: error.reason,
      // Which keys were offered, by thumbprint (public values; the operator compares them with the peer's).
      offered: {
        signingKid: await okpThumbprint(published.signingKey),
        encryptionKid: await okpThumbprint(published.encryptionKey),
        previousSigningKeys: published.previousSigningKeys.length,
      },
    };
    await this.db.transaction((tx) =>
      this.audit.record(tx, actor, { action: 'peer.refresh-keys.refused', resourceType: 'peer', resourceId: peer.id, details }),
    );
    this.logger.warn({ peerNodeId: peer.nodeId, ...details, detail: error.message }, "a peer's endpoint publishes new keys the peer did not endorse; refused");
    return new DomainError(
      'PEER_KEY_CHANGE_UNENDORSED',
      `${peer.nodeId}: its GET /v1/node shows new keys without a key statement signed by a key trusted for it (${error.reason}); ` +
        'register the peer again to accept them',
      { reason: error.reason },
    );
  }

  /** Every enabled peer's keys, refreshed; a peer that cannot be reached keeps what was stored (logged). */
  async refreshAllKeys(): Promise<{ refreshed: number; failed: number }> {
    let refreshed = 0;
    let failed = 0;
    for (const peer of await this.peers.listActive()) {
      try {
        await this.refreshKeys(peer.nodeId, { actorType: 'system' });
        refreshed++;
        this.metrics.peerKeyRefreshes.inc({ outcome: 'refreshed' });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        failed++;
        // A refused key change has its own counter and alert (kouza_peer_key_changes_refused_total).
        this.metrics.peerKeyRefreshes.inc({ outcome: error.code === 'PEER_KEY_CHANGE_UNENDORSED' ? 'refused' : 'failed' });
        this.logger.warn({ peerNodeId: peer.nodeId, detail: error.detail }, "a peer's keys could not be refreshed");
      }
    }
    return { refreshed, failed };
  }

  /** Disables a peer: from now on nothing is sent to it or accepted from it. Rows stay. */
  async disable(nodeId: string, actor: AuditActor): Promise<PeerDto> {
    return this.db.transaction(async (tx) => {
      const disabled = await this.peers.disable(tx, nodeId);
      if (!disabled) {
        // Already disabled: the same answer again; unknown: 404.
        const peer = await this.peers.findByNodeId(nodeId, tx);
        if (!peer) throw notFound(`Peer node ${nodeId}`);
        return toPeerDto(peer);
      }
      await this.audit.record(tx, actor, {
        action: 'peer.disable',
        resourceType: 'peer',
        resourceId: disabled.id,
        details: { nodeId },
      });
      return toPeerDto((await this.peers.findByNodeId(nodeId, tx))!);
    });
  }
}

function toPeerDto(record: PeerRecord): PeerDto {
  return {
    id: record.id,
    nodeId: record.nodeId,
    endpointUrl: record.endpointUrl,
    signingKey: publicJwk(record.signingKey as Record<string, unknown>),
    encryptionKey: publicJwk(record.encryptionKey as Record<string, unknown>),
    institutions: record.institutions,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    disabledAt: record.disabledAt,
    previousSigningKeys: (record.previousSigningKeys ?? []).map((p) => ({
      ...publicJwk(p.jwk as Record<string, unknown>),
      notAfter: p.notAfter,
    })),
    keysRefreshedAt: record.keysRefreshedAt,
    queriesPerMinute: record.queriesPerMinute,
  };
}

/**
 * Whether what a peer publishes is within what is stored for it: the same current keys,
 * and no previous signing key that is not stored or is kept longer than stored. (Keys
 * dropped, or reaching their notAfter, need no say-so.)
 */
function keysWithin(published: PublishedNodeKeys, stored: PeerRecord): boolean {
  if (published.signingKey.x !== stored.signingKey.x || published.encryptionKey.x !== stored.encryptionKey.x) return false;
  return published.previousSigningKeys.every((p) =>
    (stored.previousSigningKeys ?? []).some((s) => s.jwk.x === p.jwk.x && Date.parse(p.notAfter) <= Date.parse(s.notAfter)),
  );
}

/**
 * The keys a peer's key statement states, when it verifies against a key trusted for the
 * peer (the stored current signing key, or a stored previous one before its notAfter) and
 * is newer than the last believed; the plain fields of GET /v1/node must say the same.
 * Throws KeyStatementError.
 */
async function endorsedKeys(published: PublishedNodeKeys, stored: PeerRecord): Promise<{ keys: PublishedNodeKeys; iat: number }> {
  const now = Date.now();
  const trusted = [
    { jwk: stored.signingKey, notAfter: Number.POSITIVE_INFINITY },
    ...(stored.previousSigningKeys ?? []).map((p) => ({ jwk: p.jwk, notAfter: Date.parse(p.notAfter) })),
  ].filter((k) => k.notAfter > now);
  const keys = await Promise.all(trusted.map(async ({ jwk }) => ({ kid: await okpThumbprint(jwk), key: (await importPeerKeys(stored.nodeId, jwk, stored.encryptionKey)).signingKey })));
  const endorsed = await verifyKeyStatement(published.keyStatement, stored.nodeId, keys, { notBefore: stored.keyStatementIat ?? undefined });
  let stated: PublishedNodeKeys;
  try {
    stated = parsePublishedNodeKeys(endorsed.node, now);
  } catch {
    throw new KeyStatementError('malformed', 'the key statement does not state keys as GET /v1/node shows them');
  }
  const same = (a: { x?: string }, b: { x?: string }) => a.x === b.x;
  if (
    !same(stated.signingKey, published.signingKey) ||
    !same(stated.encryptionKey, published.encryptionKey) ||
    stated.previousSigningKeys.length !== published.previousSigningKeys.length ||
    !stated.previousSigningKeys.every((p, i) => same(p.jwk, published.previousSigningKeys[i].jwk) && p.notAfter === published.previousSigningKeys[i].notAfter)
  ) {
    throw new KeyStatementError('inconsistent', 'the key statement states other keys than GET /v1/node shows');
  }
  return { keys: stated, iat: endorsed.iat };
}
