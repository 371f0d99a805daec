import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import type { AuditActor, AuditEvent } from '../audit/audit-event.js';
import { DeceasedReportsRepository } from '../linkages/deceased-reports.repository.js';
import { AuditService } from '../audit/audit.service.js';
import { DomainError } from '../common/errors/domain-error.js';
import { redactMyNumbers } from '../common/my-number/my-number.js';
import { AppConfig } from '../config/app-config.js';
import { BlindIndex } from '../crypto/blind-index.js';
import type { AccountType } from '../linkages/linkage.types.js';
import { HostedLocations, type HostedMatch } from '../locations/hosted-locations.js';
import {
  checkClaims,
  CLOCK_SKEW_SECONDS,
  EnvelopeError,
  epochSeconds,
  openEnvelope,
  sealEnvelope,
  type NodeIdentity,
  type PeerKeys,
} from './envelope.js';
import { HostedNumbering } from '../numbering/hosted-numbering.js';
import { PeerMessageIdsRepository } from './peer-message-ids.repository.js';
import { PeerQuota } from './peer-quota.js';
import {
  newMessageId,
  parseLocationQueryMessage,
  parseNumberingNoticeMessage,
  PeerMessageRefusal,
  PROTOCOL_VERSION,
  type LocatedInstitution,
  type LocationAnswerMessage,
  type LocationQueryMessage,
  type MessageClaims,
  type NumberedInstitution,
  type NumberingNoticeMessage,
  type NumberingResultMessage,
} from './peer-messages.js';
import { PeersRepository } from './peers.repository.js';
import { NODE_IDENTITY } from './peers.tokens.js';

/** A message that passed every check, from a registered, enabled peer. */
export interface Accepted<M> {
  message: M;
  peer: { id: string; keys: PeerKeys };
}
export type AcceptedQuery = Accepted<LocationQueryMessage>;

export interface InboundAnswer extends AcceptedQuery {
  /** The sealed location-answer, the response body. */
  envelope: string;
  /** What the hosted institutions hold for the queries (e.g. to act on `deceased`). */
  matches: HostedMatch[];
}

/**
 * `POST /v1/peer/location-queries`: opens and checks a location-query from a peer
 * node and answers it, sealed to that node, for the institutions hosted here.
 */
@Injectable()
export class PeerInboundService {
  constructor(
    @Inject(NODE_IDENTITY) private readonly identity: NodeIdentity,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly peers: PeersRepository,
    private readonly messageIds: PeerMessageIdsRepository,
    private readonly hosted: HostedLocations,
    private readonly audit: AuditService,
    private readonly deceasedReports: DeceasedReportsRepository,
    private readonly numbering: HostedNumbering,
    private readonly db: DataSource,
    private readonly blindIndex: BlindIndex,
    private readonly logger: PinoLogger,
    private readonly quota: PeerQuota,
  ) {
    logger.setContext(PeerInboundService.name);
  }

  /** Answers a sealed location-query; throws PEER_MESSAGE_REFUSED (401) for anything else. */
  async answer(body: unknown, requestId: string): Promise<InboundAnswer> {
    const accepted = await this.accept(body, requestId);
    const matches = await this.hosted.locate(accepted.message.queries);
    // Audited before anything is sent: no answer without its record.
    await this.recordAnswers(accepted, matches, requestId);
    const envelope = await sealEnvelope({ ...this.answerMessage(accepted.message, matches) }, this.identity, accepted.peer.keys);
    return { ...accepted, envelope, matches };
  }

  /**
   * Decrypts, verifies the signature against the registered peer named by the kid,
   * checks typ, aud, iss, iat/exp and the message's shape, and records its jti (until
   * it expires) so that it is answered once. Refusals are logged with their reason.
   */
  accept(body: unknown, requestId: string): Promise<AcceptedQuery> {
    return this.open(body, requestId, 'location-query', parseLocationQueryMessage);
  }

  /**
   * `POST /v1/peer/numbering-notices`: opens and checks a numbering-notice (as a
   * location-query is checked; a message of another typ is refused), has each notice
   * matched and attached at the hosted institutions it names, and answers, sealed to the
   * sender, with every asked institution hosted here. The attachments are audited by
   * HostedNumbering (`numbering.attach`); the answer by one `peer.numbering.answered`
   * row per notice and institution, before anything is sent.
   */
  async answerNumbering(body: unknown, requestId: string): Promise<{ envelope: string; message: NumberingNoticeMessage }> {
    const accepted = await this.open(body, requestId, 'numbering-notice', parseNumberingNoticeMessage);
    const { message, peer } = accepted;
    await this.checkOrigins(accepted, requestId);
    const results = new Map<string, NumberedInstitution[]>();
    // The subject attached at each institution, per notice: the answer's audit row names
    // it, so that the depositor's access history lists the peer's request.
    const subjects = new Map<string, string>();
    // One at a time: each notice may attach numbers in its own transactions, and a
    // message carries at most MAX_QUERIES_PER_MESSAGE of them.
    for (const notice of message.notices) {
      const outcome = await this.numbering.apply(
        { myNumber: notice.myNumber, nameKana: notice.nameKana, birthDate: notice.birthDate, address: notice.address },
        {
          requestId: notice.origin.requestId,
          nodeId: message.iss,
          institutionCode: notice.origin.institutionCode,
          branchCode: notice.origin.branchCode,
          operatorId: notice.origin.operatorId,
          numberDocument: notice.verification.numberDocument,
          identityDocument: notice.verification.identityDocument,
          consentAt: notice.consentAt,
        },
        notice.institutions,
      );
      const attachedAt = outcome.filter((r) => r.status === 'attached').map((r) => r.code);
      for (const [code, subjectId] of await this.subjectsAt(notice.myNumber, attachedAt)) subjects.set(`${notice.ref} ${code}`, subjectId);
      results.set(
        notice.ref,
        outcome.map((r) => ({
          code: r.code,
          status: r.status,
          ...(r.status === 'attached' && r.accounts !== undefined ? { accounts: r.accounts } : {}),
          ...(r.reason ? { reason: r.reason } : {}),
        })),
      );
    }
    await this.recordNumberings(accepted, results, subjects, requestId);
    const iat = epochSeconds();
    const reply: NumberingResultMessage = {
      v: PROTOCOL_VERSION,
      typ: 'numbering-result',
      iss: this.identity.nodeId,
      aud: message.iss,
      jti: newMessageId(),
      iat,
      exp: iat + this.config.PEER_MESSAGE_TTL_SECONDS,
      inReplyTo: message.jti,
      results: message.notices.map(({ ref }) => ({ ref, institutions: results.get(ref) ?? [] })),
    };
    return { envelope: await sealEnvelope({ ...reply }, this.identity, peer.keys), message };
  }

  /**
   * A peer speaks for the institutions registered behind it, and no more: a notice whose
   * origin institution is not one of them is refused, the whole message with it
   * (PEER_ORIGIN_NOT_REGISTERED, 403), before anything is matched or attached, and logged.
   */
  private async checkOrigins({ message, peer }: Accepted<NumberingNoticeMessage>, requestId: string): Promise<void> {
    const behind = await this.peers.institutionCodesOf(peer.id);
    const foreign = [...new Set(message.notices.map((n) => n.origin.institutionCode).filter((code) => !behind.has(code)))];
    if (foreign.length === 0) return;
    this.logger.warn(
      { reason: 'origin-not-behind-peer', peerNodeId: message.iss, messageId: message.jti, origins: foreign, requestId },
      'peer message refused',
    );
    throw new DomainError(
      'PEER_ORIGIN_NOT_REGISTERED',
      `origin.institutionCode ${foreign.join(', ')} is not registered behind ${message.iss}`,
      { origins: foreign },
    );
  }

  /** The subject records of a number at hosted institutions (by every blind-index key version held). */
  private async subjectsAt(myNumber: string, codes: string[]): Promise<Map<string, string>> {
    if (codes.length === 0) return new Map();
    const indexes = this.blindIndex.computeAll(myNumber);
    const rows: { code: string; id: string }[] = await this.db.query(
      `SELECT i.code, s.id FROM unnest($1::smallint[], $2::bytea[]) AS k (version, digest)
         JOIN subjects s ON s.blind_index_version = k.version AND s.blind_index = k.digest
         JOIN institutions i ON i.id = s.institution_id
        WHERE i.code = ANY ($3::text[])`,
      [indexes.map((i) => i.version), indexes.map((i) => i.digest), codes],
    );
    return new Map(rows.map((r) => [r.code, r.id]));
  }

  private async recordNumberings(
    accepted: Accepted<NumberingNoticeMessage>,
    results: Map<string, NumberedInstitution[]>,
    subjects: Map<string, string>,
    requestId: string,
  ): Promise<void> {
    const { message, peer } = accepted;
    const codes = [...new Set([...results.values()].flat().map((r) => r.code))];
    if (codes.length === 0) return;
    const rows: { id: string; code: string }[] = await this.db.query(`SELECT id, code FROM institutions WHERE code = ANY ($1)`, [codes]);
    const ids = new Map(rows.map((r) => [r.code, r.id]));
    await this.db.transaction(async (tx) => {
      for (const notice of message.notices) {
        for (const result of results.get(notice.ref) ?? []) {
          const actor: AuditActor = { actorType: 'peer', institutionId: ids.get(result.code), requestId };
          await this.audit.record(tx, actor, {
            action: 'peer.numbering.answered',
            resourceType: 'peer',
            resourceId: peer.id,
            subjectId: subjects.get(`${notice.ref} ${result.code}`),
            details: {
              peerNodeId: message.iss,
              messageId: message.jti,
              ref: redactMyNumbers(notice.ref),
              origin: { requestId: notice.origin.requestId, institutionCode: notice.origin.institutionCode },
              institution: result.code,
              status: result.status,
              ...(result.accounts === undefined ? {} : { accounts: result.accounts }),
              ...(result.reason ? { reason: result.reason } : {}),
            },
          });
        }
      }
    });
  }

  private async open<M extends MessageClaims>(
    body: unknown,
    requestId: string,
    typ: 'location-query' | 'numbering-notice',
    parse: (claims: unknown) => M,
  ): Promise<Accepted<M>> {
    let peerNodeId: string | undefined;
    try {
      if (typeof body !== 'string') throw new EnvelopeError('not-jose', 'the body is not application/jose');
      let peerId: string | undefined;
      let quota: number | null = null;
      // Called with the JWE header's sender, before anything is decrypted.
      const { claims, sender } = await openEnvelope(body, this.identity, async (nodeId) => {
        peerNodeId = nodeId;
        const peer = await this.peers.findActiveKeys(nodeId);
        peerId = peer?.id;
        quota = peer?.queriesPerMinute ?? null;
        return peer?.keys;
      });
      checkClaims(claims, { typ, audience: this.identity.nodeId, issuer: sender.nodeId });
      const message = parse(claims);
      // Kept as long as checkClaims would accept the message.
      const expiresAt = new Date((message.exp + CLOCK_SKEW_SECONDS) * 1000);
      if (!(await this.messageIds.claim(message.iss, message.jti, expiresAt))) {
        throw new EnvelopeError('replayed', 'the jti was seen before');
      }
      await this.quota.take(message.iss, quota, queriesIn(message));
      return { message, peer: { id: peerId!, keys: sender } };
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      const refusal = this.refuse(error.reason, requestId, { detail: error.message, peerNodeId });
      // The sender is authenticated by now: it is told why, with a stable code.
      if (error instanceof PeerMessageRefusal) throw new DomainError(error.code, error.message, error.extra);
      throw refusal;
    }
  }

  /**
   * Logs why a message is refused (never its content) and returns the refusal, which
   * tells the caller nothing of which check failed.
   */
  refuse(reason: string, requestId: string, context: { detail?: string; peerNodeId?: string } = {}): DomainError {
    this.logger.warn({ reason, ...context, requestId }, 'peer message refused');
    return new DomainError('PEER_MESSAGE_REFUSED', 'The message is refused.');
  }

  /**
   * One audit row per query answered: one per matched subject (with its institution),
   * or one with no subject when nothing was found.
   */
  private async recordAnswers(accepted: AcceptedQuery, matches: HostedMatch[], requestId: string): Promise<void> {
    const { message, peer } = accepted;
    const rows: { institutionId?: string; event: AuditEvent }[] = [];
    const matchesByRef = groupBy(matches, (m) => m.ref);
    for (const query of message.queries) {
      const details = {
        peerNodeId: message.iss,
        messageId: message.jti,
        // The querying node chose the ref: it could hold anything, a number included.
        ref: redactMyNumbers(query.ref),
        purpose: message.purpose,
        ...(query.deceased === undefined ? {} : { deceased: true }),
      };
      const found = matchesByRef.get(query.ref) ?? [];
      const event = { action: 'peer.location.answered', resourceType: 'peer', resourceId: peer.id } as const;
      if (found.length === 0) rows.push({ event: { ...event, details: { ...details, found: 0 } } });
      for (const match of found) {
        rows.push({
          institutionId: match.institutionId,
          event: { ...event, subjectId: match.subjectId, details: { ...details, found: match.accounts.length, linkageIds: match.linkageIds } },
        });
      }
    }
    // An heir's inquiry at another node: the holder of these linkages was reported
    // deceased, by that node, on the date and evidence its query gave. Only a claim in an
    // inheritance query with both passes parseLocationQueryMessage, and only a subject
    // that matched (number, name key, birth date) is among the matches.
    const claims = new Map(message.queries.flatMap((q) => (q.deceased ? [[q.ref, q.deceased] as const] : [])));
    const deceased = matches.flatMap((m) => {
      const claim = claims.get(m.ref);
      return claim ? [{ linkageIds: m.linkageIds, peerNodeId: message.iss, dateOfDeath: claim.dateOfDeath, evidence: claim.evidence }] : [];
    });
    // The actor (and so the row's institution) is per call: one call per institution.
    await this.db.transaction(async (tx) => {
      await this.deceasedReports.record(tx, deceased);
      for (const [institutionId, group] of groupBy(rows, (r) => r.institutionId)) {
        const actor: AuditActor = { actorType: 'peer', institutionId, requestId };
        await this.audit.record(tx, actor, ...group.map((r) => r.event));
      }
    });
  }

  /** Every ref asked, with the institutions where accounts were found (none listed = not found). */
  private answerMessage(query: LocationQueryMessage, matches: HostedMatch[]): LocationAnswerMessage {
    const iat = epochSeconds();
    const matchesByRef = groupBy(matches, (m) => m.ref);
    return {
      v: PROTOCOL_VERSION,
      typ: 'location-answer',
      iss: this.identity.nodeId,
      aud: query.iss,
      jti: newMessageId(),
      iat,
      exp: iat + this.config.PEER_MESSAGE_TTL_SECONDS,
      inReplyTo: query.jti,
      answers: query.queries.map(({ ref }) => ({ ref, institutions: institutionsOf(matchesByRef.get(ref) ?? []) })),
    };
  }
}

/** What a message costs of its sender's quota: one per query or numbering notice. */
function queriesIn(message: MessageClaims): number {
  const { queries, notices } = message as { queries?: unknown[]; notices?: unknown[] };
  return (queries ?? notices ?? []).length;
}

function groupBy<K, T>(items: Iterable<T>, key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}

/** One entry per institution (a number indexed under two key versions is two subjects there). */
function institutionsOf(matches: HostedMatch[]): LocatedInstitution[] {
  return [...groupBy(matches, (m) => m.institutionCode)].map(([code, ofInstitution]) => ({
    code,
    accounts: ofInstitution.flatMap((m) =>
      m.accounts.map((a) => ({ branchCode: a.branchCode, accountType: a.accountType as AccountType, accountNumber: a.accountNumber })),
    ),
  }));
}
