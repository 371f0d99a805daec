import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { DomainError, notFound, ValidationFailed } from '../common/errors/domain-error.js';
import { INSTITUTION_CODE_TAKEN, pgErrorCode } from '../database/pg-errors.js';
import type { PeerDto, RegisterPeerDto } from './dto/peer.dto.js';
import type { NodeIdentity } from './envelope.js';
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
        });
        const behindOtherPeers = await this.peers.replaceInstitutions(tx, id, dto.institutions);
        if (behindOtherPeers.length > 0) throw taken(behindOtherPeers);
        await this.audit.record(tx, actor, {
          action: 'peer.register',
          resourceType: 'peer',
          resourceId: id,
          details: { nodeId: dto.nodeId, created, institutionCodes: dto.institutions.map((i) => i.code) },
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
    return this.db.transaction(async (tx) => {
      await this.peers.updateKeys(tx, peer.id, published);
      await this.audit.record(tx, actor, {
        action: 'peer.refresh-keys',
        resourceType: 'peer',
        resourceId: peer.id,
        details: { nodeId, changed, previousSigningKeys: published.previousSigningKeys.length },
      });
      return toPeerDto((await this.peers.findByNodeId(nodeId, tx))!);
    });
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
        this.metrics.peerKeyRefreshes.inc({ outcome: 'failed' });
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
  };
}
