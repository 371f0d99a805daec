import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { DomainError } from '../common/errors/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import {
  checkClaims,
  CLOCK_SKEW_SECONDS,
  EnvelopeError,
  epochSeconds,
  NODE_ID_PATTERN,
  openEnvelope,
  sealEnvelope,
  type NodeIdentity,
  type PeerKeys,
  type PeerMessageType,
} from '../peers/envelope.js';
import { JOSE_MEDIA_TYPE, peerUrl, type PeerNode } from '../peers/peer-client.js';
import { PeerMessageIdsRepository } from '../peers/peer-message-ids.repository.js';
import { newMessageId } from '../peers/peer-messages.js';
import { PeersRepository } from '../peers/peers.repository.js';
import { NODE_IDENTITY } from '../peers/peers.tokens.js';
import {
  CheckpointError,
  MAX_CHECKPOINT_LENGTH,
  ownSigningKeys,
  signCheckpoint,
  verifyCheckpoint,
  witnessesOf,
  type AuditCheckpoint,
} from './audit-checkpoint.js';
import { AuditCheckpointLog } from './audit-checkpoint-log.js';
import { AuditSealer } from './audit-sealer.js';
import { AuditVerifier, type AuditVerification, type CheckpointEvidence } from './audit-verifier.js';
import { AuditWitnessRepository } from './audit-witness.repository.js';

/** Where a node takes the audit checkpoints of its peers (it keeps the newest of each). */
export const PEER_AUDIT_CHECKPOINTS_PATH = '/v1/peer/audit-checkpoints';
/** Where a node answers with the newest checkpoint it holds of a node. */
export const PEER_AUDIT_CHECKPOINT_QUERY_PATH = '/v1/peer/audit-checkpoints/latest';

/**
 * The node-to-node messages of the witness protocol, in the usual envelope (signed JWS
 * in a JWE to the recipient; iss, aud, jti, iat, exp checked as for location queries):
 * - `audit-checkpoint-notice` `{checkpoint}`: a node's newest checkpoint (the compact JWS
 *   of audit-checkpoint.ts, signed by the sender); answered 204.
 * - `audit-checkpoint-query` `{node}`: asks for the newest checkpoint held of `node`;
 *   answered 200 with an `audit-checkpoint-answer` `{inReplyTo, node, checkpoint|null}`.
 */
export type CheckpointMessageType = Extract<PeerMessageType, `audit-checkpoint-${string}`>;

/** A peer that missed the newest checkpoint is sent it again at most this often while the head stays put. */
const REDELIVERY_INTERVAL_MS = 60_000;

/** A witness's answer is small: a checkpoint in an envelope. */
const MAX_ANSWER_BYTES = 16 * 1024;

export interface WitnessAnswer {
  source: string;
  status: 'checked' | 'none' | 'unreachable' | 'refused' | 'unsupported' | 'invalid';
  checkpoint?: AuditCheckpoint;
}

/**
 * Checkpoints of the audit chain, kept outside this node's database: in the checkpoint
 * log, and at the peer nodes (witnesses). The worker checkpoints after each seal; the
 * verifier checks the chain against the newest checkpoint of the log and of each
 * witness; and as a witness, this node keeps and hands back its peers' checkpoints.
 */
@Injectable()
export class AuditCheckpoints implements OnModuleDestroy {
  private readonly log: AuditCheckpointLog;
  /** The checkpoint last signed by this process (first, the log's newest), and the peers that missed it. */
  private last?: { checkpoint: AuditCheckpoint; jws?: string };
  private undelivered = new Set<string>();
  private lastRound = 0;
  /** What the last round of deliveries carried. */
  private sentJws?: string;
  private delivering?: Promise<void>;

  constructor(
    @Inject(NODE_IDENTITY) private readonly identity: NodeIdentity,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly sealer: AuditSealer,
    private readonly verifier: AuditVerifier,
    private readonly peers: PeersRepository,
    private readonly messageIds: PeerMessageIdsRepository,
    private readonly witness: AuditWitnessRepository,
    private readonly logger: PinoLogger,
    // Absent in the audit:verify CLI, which counts nothing.
    @Optional() private readonly metrics?: MetricsService,
  ) {
    logger.setContext(AuditCheckpoints.name);
    this.log = new AuditCheckpointLog(config.AUDIT_CHECKPOINT_FILE);
  }

  /**
   * After a seal: signs the chain's head, appends it to the checkpoint log and sends it
   * to this node's witnesses (AUDIT_WITNESSES of the enabled peers), when the head moved since this process last did; otherwise
   * sends the last one again (at most once a minute) to the peers that missed it. A peer that cannot be reached
   * is logged, never fatal (the next checkpoint supersedes this one); a log that cannot
   * be written fails the job (the next run checkpoints again).
   *
   * A chain that no longer extends the last checkpoint (cut below it, or another hash
   * at its seq) is not checkpointed: signing it would vouch for the tampering. The job
   * fails, logged as an error, until the chain is repaired.
   */
  async checkpointHead(): Promise<{ seq: string } | undefined> {
    const head = await this.sealer.head();
    if (!head) return undefined;
    this.last ??= await this.newestInLog();
    if (this.last) {
      const { seq, head: expected } = this.last.checkpoint;
      const hash = await this.sealer.hashAt(seq);
      if (hash?.toString('base64url') !== expected) {
        this.logger.error(
          { checkpointSeq: seq, chainSeq: head.seq, linkPresent: hash !== undefined },
          'the audit chain no longer extends its last signed checkpoint: not checkpointed (run npm run audit:verify)',
        );
        this.metrics?.auditCheckpoints.inc({ outcome: 'refused' });
        throw new Error(`the audit chain no longer extends its checkpoint at seq ${seq}`);
      }
    }
    if (head.seq !== this.last?.checkpoint.seq || !this.last.jws) {
      const jws = await signCheckpoint(this.identity, head);
      this.log.append(jws);
      this.metrics?.auditCheckpoints.inc({ outcome: 'signed' });
      this.last = { checkpoint: await verifyCheckpoint(jws, await ownSigningKeys(this.identity)), jws };
    }
    // Sent behind the seal, one round at a time: a slow or silent witness never holds up
    // sealing (the maintenance queue runs one job at a time), and a round still in flight
    // is not doubled (the next run sends what is newest then). A peer that missed the
    // newest is sent it again, at most once a minute while the head stays put.
    const jws = this.last.jws!;
    if (!this.delivering) {
      const retry = jws === this.sentJws;
      if (!retry || (this.undelivered.size > 0 && Date.now() - this.lastRound >= REDELIVERY_INTERVAL_MS)) {
        this.sentJws = jws;
        this.lastRound = Date.now();
        this.delivering = this.witnesses()
          .then((peers) => this.deliver(retry ? peers.filter((p) => this.undelivered.has(p.nodeId)) : peers, jws))
          .catch((error: unknown) => this.logger.warn({ err: (error as Error).message }, 'audit checkpoint not sent to the witnesses'))
          .finally(() => (this.delivering = undefined));
      }
    }
    return { seq: head.seq };
  }

  /** This node's witnesses among the enabled peers (AUDIT_WITNESSES of them). */
  private async witnesses(): Promise<PeerNode[]> {
    return witnessesOf(this.identity.nodeId, await this.peers.listActive(), this.config.AUDIT_WITNESSES);
  }

  /** On shutdown, the witness round in flight ends first (bounded by PEER_REQUEST_TIMEOUT_MS). */
  async onModuleDestroy(): Promise<void> {
    await this.delivering;
  }

  private async deliver(targets: PeerNode[], jws: string): Promise<void> {
    const outcomes = await Promise.allSettled(targets.map((peer) => this.notify(peer, jws)));
    const failed = targets.filter((_, i) => outcomes[i].status === 'rejected').map((p) => p.nodeId);
    this.undelivered = new Set(failed);
    this.metrics?.auditCheckpointDeliveries.inc({ outcome: 'delivered' }, targets.length - failed.length);
    this.metrics?.auditCheckpointDeliveries.inc({ outcome: 'failed' }, failed.length);
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.status === 'rejected') {
        this.logger.warn({ peerNodeId: targets[i].nodeId, err: (outcome.reason as Error).message }, 'audit checkpoint not delivered to a witness');
      }
    }
  }

  /**
   * The checkpoint of the highest seq among the log's last lines that verify (this
   * node's signature); undefined when there is none. Lines that do not verify are
   * skipped: whoever can write the file cannot sign.
   */
  private async newestInLog(): Promise<{ checkpoint: AuditCheckpoint } | undefined> {
    const own = await ownSigningKeys(this.identity);
    let newest: AuditCheckpoint | undefined;
    for (const line of this.log.newestLines()) {
      try {
        const checkpoint = await verifyCheckpoint(line, own);
        if (!newest || BigInt(checkpoint.seq) > BigInt(newest.seq)) newest = checkpoint;
      } catch {
        // Not ours, or not a checkpoint.
      }
    }
    return newest && { checkpoint: newest };
  }

  /** Verifies the chain against the newest checkpoint of the log and of each witness. */
  async verify(): Promise<AuditVerification> {
    const sources: Array<{ source: string; status: string }> = [];
    const evidence: CheckpointEvidence[] = [];
    const own = await ownSigningKeys(this.identity);
    const fromFile = (await this.newestInLog())?.checkpoint;
    if (fromFile) evidence.push({ source: 'file', checkpoint: fromFile });
    sources.push({ source: 'file', status: fromFile ? 'checked' : this.log.newestLines().length ? 'invalid' : 'none' });
    for (const answer of await Promise.all((await this.witnesses()).map((peer) => this.askWitness(peer, own)))) {
      sources.push({ source: answer.source, status: answer.status });
      if (answer.checkpoint) evidence.push({ source: answer.source, checkpoint: answer.checkpoint });
    }
    return this.verifier.verify(evidence, sources);
  }

  // --- as a witness -------------------------------------------------------------

  /** POST /v1/peer/audit-checkpoints: keeps a peer's checkpoint if it is its newest. */
  async receive(body: unknown, requestId: string): Promise<void> {
    const { claims, sender } = await this.open(body, requestId, 'audit-checkpoint-notice');
    let checkpoint: AuditCheckpoint;
    try {
      checkpoint = await verifyCheckpoint(claims.checkpoint, sender);
    } catch (error) {
      throw this.refuse('bad-checkpoint', requestId, { detail: (error as Error).message, peerNodeId: sender.nodeId });
    }
    const { kept, held } = await this.witness.keep(checkpoint, claims.checkpoint as string);
    if (!kept && (held.seq !== checkpoint.seq || held.head !== checkpoint.head)) {
      // An older checkpoint, or another head at the same seq: the node's chain went back
      // (cut, or rewritten) since. Kept as it was: the newest is what the node is checked against.
      this.logger.warn(
        { peerNodeId: sender.nodeId, heldSeq: held.seq, receivedSeq: checkpoint.seq, sameSeq: held.seq === checkpoint.seq, requestId },
        'a peer sent an audit checkpoint behind (or conflicting with) the one held',
      );
    }
  }

  /** POST /v1/peer/audit-checkpoints/latest: the newest checkpoint held of the node asked. */
  async answerQuery(body: unknown, requestId: string): Promise<string> {
    const { claims, sender } = await this.open(body, requestId, 'audit-checkpoint-query');
    const node = claims.node;
    if (typeof node !== 'string' || !NODE_ID_PATTERN.test(node)) {
      throw this.refuse('malformed', requestId, { detail: 'node is not a node id', peerNodeId: sender.nodeId });
    }
    const held = await this.witness.latest(node);
    const iat = epochSeconds();
    const answer = {
      typ: 'audit-checkpoint-answer' satisfies CheckpointMessageType,
      iss: this.identity.nodeId,
      aud: sender.nodeId,
      jti: newMessageId(),
      iat,
      exp: iat + this.config.PEER_MESSAGE_TTL_SECONDS,
      inReplyTo: claims.jti,
      node,
      checkpoint: held?.checkpoint ?? null,
    };
    return sealEnvelope(answer, this.identity, sender);
  }

  // --- towards witnesses ----------------------------------------------------------

  private async notify(peer: PeerNode, checkpoint: string): Promise<void> {
    const iat = epochSeconds();
    const envelope = await sealEnvelope(
      {
        typ: 'audit-checkpoint-notice' satisfies CheckpointMessageType,
        iss: this.identity.nodeId,
        aud: peer.nodeId,
        jti: newMessageId(),
        iat,
        exp: iat + this.config.PEER_MESSAGE_TTL_SECONDS,
        checkpoint,
      },
      this.identity,
      peer.keys,
    );
    const response = await this.post(peer, PEER_AUDIT_CHECKPOINTS_PATH, envelope);
    await response.body?.cancel().catch(() => undefined);
    if (response.status !== 204) throw new Error(`answered HTTP ${response.status}`);
  }

  /** Asks one witness for the newest checkpoint it holds of this node; never throws. */
  private async askWitness(peer: PeerNode, own: Awaited<ReturnType<typeof ownSigningKeys>>): Promise<WitnessAnswer> {
    const source = `witness:${peer.nodeId}`;
    const iat = epochSeconds();
    const jti = newMessageId();
    let sealed: string;
    try {
      const envelope = await sealEnvelope(
        {
          typ: 'audit-checkpoint-query' satisfies CheckpointMessageType,
          iss: this.identity.nodeId,
          aud: peer.nodeId,
          jti,
          iat,
          exp: iat + this.config.PEER_MESSAGE_TTL_SECONDS,
          node: this.identity.nodeId,
        },
        this.identity,
        peer.keys,
      );
      const response = await this.post(peer, PEER_AUDIT_CHECKPOINT_QUERY_PATH, envelope);
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        const status = response.status === 404 ? 'unsupported' : response.status === 401 ? 'refused' : 'unreachable';
        return { source, status };
      }
      sealed = await response.text();
      if (sealed.length > MAX_ANSWER_BYTES) return { source, status: 'invalid' };
    } catch (error) {
      this.logger.warn({ peerNodeId: peer.nodeId, err: (error as Error).message }, 'witness not reachable for its audit checkpoint');
      return { source, status: 'unreachable' };
    }
    try {
      const { claims } = await openEnvelope(sealed, this.identity, async (kid) => (kid === peer.nodeId ? peer.keys : undefined));
      checkClaims(claims, { typ: 'audit-checkpoint-answer', audience: this.identity.nodeId, issuer: peer.nodeId });
      if (claims.inReplyTo !== jti || claims.node !== this.identity.nodeId) throw new EnvelopeError('wrong-reply');
      if (claims.checkpoint === null) return { source, status: 'none' };
      // Signed by this node: a witness can withhold a checkpoint, never make one up.
      return { source, status: 'checked', checkpoint: await verifyCheckpoint(claims.checkpoint, own) };
    } catch (error) {
      if (!(error instanceof EnvelopeError) && !(error instanceof CheckpointError)) throw error;
      this.logger.warn({ peerNodeId: peer.nodeId, reason: error.message }, 'audit checkpoint of a witness not believed');
      return { source, status: 'invalid' };
    }
  }

  private post(peer: PeerNode, path: string, envelope: string): Promise<Response> {
    return fetch(peerUrl(peer.endpointUrl, path), {
      method: 'POST',
      headers: { 'content-type': JOSE_MEDIA_TYPE, accept: JOSE_MEDIA_TYPE },
      body: envelope,
      signal: AbortSignal.timeout(this.config.PEER_REQUEST_TIMEOUT_MS),
      redirect: 'error',
    });
  }

  /**
   * Opens a message from a registered, enabled peer and checks it as the location
   * queries are checked (signature, typ, aud, iss, iat/exp, jti once).
   */
  private async open(
    body: unknown,
    requestId: string,
    typ: CheckpointMessageType,
  ): Promise<{ claims: Record<string, unknown>; sender: PeerKeys }> {
    let peerNodeId: string | undefined;
    try {
      if (typeof body !== 'string') throw new EnvelopeError('not-jose', 'the body is not application/jose');
      const { claims, sender } = await openEnvelope(body, this.identity, async (kid) => {
        peerNodeId = kid;
        return (await this.peers.findActiveKeys(kid))?.keys;
      });
      checkClaims(claims, { typ, audience: this.identity.nodeId, issuer: sender.nodeId });
      const { jti, exp } = claims as { jti?: unknown; exp: number };
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > 128) throw new EnvelopeError('malformed', 'jti');
      if (typ === 'audit-checkpoint-notice' && (typeof claims.checkpoint !== 'string' || claims.checkpoint.length > MAX_CHECKPOINT_LENGTH)) {
        throw new EnvelopeError('malformed', 'checkpoint');
      }
      if (!(await this.messageIds.claim(sender.nodeId, jti, new Date((exp + CLOCK_SKEW_SECONDS) * 1000)))) {
        throw new EnvelopeError('replayed', 'the jti was seen before');
      }
      return { claims, sender };
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      throw this.refuse(error.reason, requestId, { detail: error.message, peerNodeId });
    }
  }

  private refuse(reason: string, requestId: string, context: { detail?: string; peerNodeId?: string }): DomainError {
    this.logger.warn({ reason, ...context, requestId }, 'peer message refused');
    return new DomainError('PEER_MESSAGE_REFUSED', 'The message is refused.');
  }
}
