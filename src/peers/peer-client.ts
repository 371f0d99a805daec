import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Agent, request, type Dispatcher } from 'undici';
import { PinoLogger } from 'nestjs-pino';
import { parseRetryAfter } from '../common/http/retry-after.js';
import { AppConfig } from '../config/app-config.js';
import type { HostedAccount } from '../locations/hosted-locations.js';
import type { JWK } from 'jose';
import {
  checkClaims,
  ENCRYPTION_CURVE,
  EnvelopeError,
  isPublicOkpJwk,
  NODE_ID_PATTERN,
  SIGNING_CURVE,
  epochSeconds,
  openEnvelope,
  sealEnvelope,
  sealEnvelopeJson,
  type NodeIdentity,
  type PeerKeys,
} from './envelope.js';
import {
  isCheckedLocationQuery,
  locationQueryMessageJson,
  locationQueryMembers,
  newMessageId,
  parseLocationAnswerMessage,
  parseLocationQueryMessage,
  parseNumberingNoticeMessage,
  parseNumberingResultMessage,
  type LocationAnswerMessage,
  type LocationQuery,
  type LocationQueryMessage,
  type NumberedInstitution,
  type NumberingNotice,
  type NumberingNoticeMessage,
  type NumberingResultMessage,
  type PeerPurpose,
  PROTOCOL_VERSION,
} from './peer-messages.js';
import { NODE_IDENTITY } from './peers.tokens.js';

/** A registered, enabled peer node, ready to be sent a query. */
export interface PeerNode {
  id: string;
  nodeId: string;
  endpointUrl: string;
  keys: PeerKeys;
  institutions: { code: string; name: string }[];
}

export type PeerUnreachableReason = 'timeout' | 'network' | 'http-status' | 'refused' | 'quota' | 'forged' | 'malformed';

/** The peer gave no answer that can be believed; for an inquiry, its institutions are unreachable. */
export class PeerUnreachableError extends Error {
  override name = 'PeerUnreachableError';
  constructor(
    readonly reason: PeerUnreachableReason,
    message?: string,
    /** How long the peer asked us to wait (its 429's or 503's Retry-After), in ms; the retry waits at least that. */
    readonly retryAfterMs?: number,
  ) {
    super(message ?? reason);
  }
}

/** Where a node publishes its id and public keys. */
export const NODE_PATH = '/v1/node';
const MAX_NODE_BODY_BYTES = 64 * 1024;
/** More previous keys than this in one answer is not a rotation: refused. */
const MAX_PREVIOUS_SIGNING_KEYS = 10;

/** A node's published keys, checked: public OKP JWKs only. */
export interface PublishedNodeKeys {
  nodeId: string;
  signingKey: JWK;
  encryptionKey: JWK;
  previousSigningKeys: { jwk: JWK; notAfter: string }[];
  /** The node's signed statement of these keys, as published (verified by the caller: see key-statement.ts). */
  keyStatement?: unknown;
}

/**
 * Reads a GET /v1/node answer. `keys` (absent from nodes that predate rotation) adds the
 * previous signing keys with their notAfter; those already past it are left out.
 */
export function parsePublishedNodeKeys(body: unknown, now = Date.now()): PublishedNodeKeys {
  const bad = (detail: string) => new PeerUnreachableError('malformed', `GET /v1/node: ${detail}`);
  if (typeof body !== 'object' || body === null) throw bad('not a JSON object');
  const { nodeId, signingKey, encryptionKey, keys, keyStatement } = body as Record<string, unknown>;
  if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) throw bad('nodeId is not a node id');
  if (!isPublicOkpJwk(signingKey, SIGNING_CURVE)) throw bad('signingKey is not a public Ed25519 JWK');
  if (!isPublicOkpJwk(encryptionKey, ENCRYPTION_CURVE)) throw bad('encryptionKey is not a public X25519 JWK');
  const previousSigningKeys: PublishedNodeKeys['previousSigningKeys'] = [];
  if (keys !== undefined) {
    if (!Array.isArray(keys)) throw bad('keys is not an array');
    for (const key of keys as Record<string, unknown>[]) {
      if (typeof key !== 'object' || key === null || key.use !== 'sig' || key.status !== 'previous') continue;
      const jwk = { kty: key.kty, crv: key.crv, x: key.x };
      const notAfter = typeof key.notAfter === 'string' ? Date.parse(key.notAfter) : NaN;
      if (!isPublicOkpJwk(jwk, SIGNING_CURVE) || !Number.isFinite(notAfter)) throw bad('a previous signing key is malformed');
      if (notAfter > now) previousSigningKeys.push({ jwk: jwk as JWK, notAfter: new Date(notAfter).toISOString() });
    }
    if (previousSigningKeys.length > MAX_PREVIOUS_SIGNING_KEYS) throw bad('too many previous signing keys');
  }
  const publicOf = (jwk: JWK): JWK => ({ kty: 'OKP', crv: jwk.crv, x: jwk.x });
  return { nodeId, signingKey: publicOf(signingKey), encryptionKey: publicOf(encryptionKey), previousSigningKeys, keyStatement };
}

/** Where a peer node takes location queries, under its registered endpoint URL. */
export const PEER_LOCATION_QUERIES_PATH = '/v1/peer/location-queries';
/** Where a peer node takes numbering notices. */
export const PEER_NUMBERING_NOTICES_PATH = '/v1/peer/numbering-notices';
export const JOSE_MEDIA_TYPE = 'application/jose';

/** A path under a peer's base URL (registered without a trailing slash; tolerated anyway). */
export const peerUrl = (endpointUrl: string, path: string) => endpointUrl.replace(/\/+$/, '') + path;

export type PeerLocations = Map<string, { code: string; accounts: HostedAccount[] }[]>;
/** Per notice ref, the outcome at each institution asked that the peer reported on. */
export type PeerNumberings = Map<string, NumberedInstitution[]>;

/** Drops an undici body and its connection; the abort that destroy() reports is expected, not an error. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * Reads a response body as it streams, counting bytes: past `limit` the stream is
 * destroyed (the connection dropped) and undefined returned, so that a peer answering
 * an endless or huge body costs at most `limit` bytes of memory, never the whole body.
 * Hand-written: undici's own `maxResponseSize` applies to a whole dispatcher, not to
 * one request's limit.
 */
async function readBodyCapped(body: Dispatcher.ResponseData['body'], limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    bytes += chunk.byteLength;
    if (bytes > limit) {
      discard(body);
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Outbound peer messages (and key fetches). They go through an undici Agent of this client's own: a
 * keep-alive pool per peer origin, at most PEER_CONCURRENCY connections each, with
 * undici's `request` rather than fetch — the WHATWG fetch layer (web streams, Request
 * and Response objects, abort plumbing) cost as much worker CPU per message as the
 * envelope's crypto in a profile of the inquiries benchmark (docs/benchmarks.md).
 * Redirects are not followed (a 3xx is an answer like any other non-200).
 */
@Injectable()
export class PeerClient implements OnModuleDestroy {
  private readonly agent: Agent;

  constructor(
    @Inject(NODE_IDENTITY) private readonly identity: NodeIdentity,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(PeerClient.name);
    this.agent = new Agent({ connections: config.PEER_CONCURRENCY, keepAliveTimeout: 30_000 });
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }

  /**
   * One message carrying every query; the answer verified (signature against the peer's
   * registered key, aud = us, iss = peer, inReplyTo = our jti, exp) before anything in it
   * is believed; institutions not behind that peer are dropped (logged). Every ref asked
   * is in the result, with the institutions where accounts were found (often none).
   * Throws PeerUnreachableError when there is no answer to believe.
   */
  async locate(
    peer: PeerNode,
    purpose: PeerPurpose,
    queries: LocationQuery[],
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<PeerLocations> {
    const query = this.queryMessage(peer, purpose, queries);
    const envelope = await sealEnvelopeJson(locationQueryMessageJson(query), this.identity, peer.keys);
    const sealedAnswer = await this.send(peer, PEER_LOCATION_QUERIES_PATH, envelope, options);
    const answer = await this.verifyReply(peer, query.jti, sealedAnswer, 'location-answer', parseLocationAnswerMessage);
    return this.believe(peer, query, answer);
  }

  /**
   * Numbering notices (他行付番) to one peer, in one message, verified as `locate` does.
   * Every ref sent is in the result with the institutions the peer reported on; an
   * institution not behind that peer, or not asked by that notice, is dropped (logged).
   * Throws PeerUnreachableError when there is no answer to believe.
   */
  async notifyNumbering(
    peer: PeerNode,
    notices: NumberingNotice[],
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<PeerNumberings> {
    const notice = this.noticeMessage(peer, notices);
    const envelope = await sealEnvelope({ ...notice }, this.identity, peer.keys);
    const sealed = await this.send(peer, PEER_NUMBERING_NOTICES_PATH, envelope, options);
    const reply = await this.verifyReply(peer, notice.jti, sealed, 'numbering-result', parseNumberingResultMessage);
    const asked = new Map(notice.notices.map((n) => [n.ref, new Set(n.institutions)]));
    const behindPeer = new Set(peer.institutions.map((i) => i.code));
    const result: PeerNumberings = new Map(notice.notices.map((n) => [n.ref, []]));
    let dropped = 0;
    for (const { ref, institutions } of reply.results) {
      const reported = result.get(ref);
      if (!reported) {
        dropped++;
        continue;
      }
      for (const inst of institutions) {
        if (behindPeer.has(inst.code) && asked.get(ref)!.has(inst.code)) reported.push(inst);
        else dropped++;
      }
    }
    if (dropped > 0) {
      this.logger.warn({ peerNodeId: peer.nodeId, dropped }, 'a peer node reported on institutions or refs not asked; dropped');
    }
    return result;
  }

  /**
   * What a peer publishes at `{endpointUrl}/v1/node`: its node id, current keys and the
   * previous signing keys still within their grace period. Throws PeerUnreachableError
   * when there is no answer, or not one in that shape (public OKP keys only).
   */
  async fetchNodeKeys(endpointUrl: string, options: { timeoutMs?: number } = {}): Promise<PublishedNodeKeys> {
    let body: unknown;
    try {
      this.assertTransport(endpointUrl);
      const response = await request(peerUrl(endpointUrl, NODE_PATH), {
        dispatcher: this.agent,
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? this.config.PEER_REQUEST_TIMEOUT_MS),
      });
      if (response.statusCode !== 200) {
        await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        throw new PeerUnreachableError('http-status', `GET /v1/node answered HTTP ${response.statusCode}`);
      }
      const text = await readBodyCapped(response.body, MAX_NODE_BODY_BYTES);
      if (text === undefined) throw new PeerUnreachableError('malformed', 'GET /v1/node: answer too large');
      body = JSON.parse(text);
    } catch (error) {
      if (error instanceof PeerUnreachableError) throw error;
      throw new PeerUnreachableError(error instanceof SyntaxError ? 'malformed' : 'network', `GET /v1/node: ${(error as Error).message}`);
    }
    return parsePublishedNodeKeys(body);
  }

  /**
   * In production nothing goes to a peer but over https, whatever was stored (a
   * registration of before the rule, or a row written by hand): registering refuses
   * such a URL, and this refuses to use one.
   */
  private assertTransport(endpointUrl: string): void {
    if (this.config.isProduction && !/^https:\/\//i.test(endpointUrl)) {
      throw new PeerUnreachableError('network', 'the endpoint URL is not https (refused in production)');
    }
  }

  private noticeMessage(peer: PeerNode, notices: NumberingNotice[]): NumberingNoticeMessage {
    const iat = epochSeconds();
    const message = {
      v: PROTOCOL_VERSION,
      typ: 'numbering-notice',
      iss: this.identity.nodeId,
      aud: peer.nodeId,
      jti: newMessageId(),
      iat,
      exp: iat + this.config.PEER_MESSAGE_TTL_SECONDS,
      purpose: 'numbering',
      // Only the members of the protocol, whatever else the caller's objects hold.
      notices: notices.map((n) => ({
        ref: n.ref,
        myNumber: n.myNumber,
        nameKana: n.nameKana,
        birthDate: n.birthDate,
        address: n.address,
        institutions: [...n.institutions],
        origin: {
          requestId: n.origin.requestId,
          institutionCode: n.origin.institutionCode,
          branchCode: n.origin.branchCode,
          operatorId: n.origin.operatorId,
        },
        verification: { numberDocument: n.verification.numberDocument, identityDocument: n.verification.identityDocument },
        consentAt: n.consentAt,
      })),
    };
    try {
      return parseNumberingNoticeMessage(message);
    } catch (error) {
      throw new TypeError(`invalid numbering notice: ${(error as Error).message}`);
    }
  }

  private queryMessage(peer: PeerNode, purpose: PeerPurpose, queries: LocationQuery[]): LocationQueryMessage {
    const iat = epochSeconds();
    const message = {
      v: PROTOCOL_VERSION,
      typ: 'location-query',
      iss: this.identity.nodeId,
      aud: peer.nodeId,
      jti: newMessageId(),
      iat,
      exp: iat + this.config.PEER_MESSAGE_TTL_SECONDS,
      purpose,
      // Only the members of the protocol, whatever else the caller's objects hold (a
      // checked query holds nothing else, and is not checked again below).
      queries: queries.map((q) => (isCheckedLocationQuery(q, purpose) ? q : locationQueryMembers(q))),
    };
    try {
      // What the peer would refuse is the caller's mistake: say so here, not as "unreachable".
      return parseLocationQueryMessage(message);
    } catch (error) {
      throw new TypeError(`invalid location query: ${(error as Error).message}`);
    }
  }

  private async send(
    peer: PeerNode,
    path: string,
    envelope: string,
    options: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<string> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.config.PEER_REQUEST_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const unreachable = (error: unknown): PeerUnreachableError =>
      signal.aborted
        ? new PeerUnreachableError('timeout', `${peer.nodeId} did not answer in time`)
        : new PeerUnreachableError('network', `${peer.nodeId}: ${(error as Error)?.message ?? 'request failed'}`);

    let response: Dispatcher.ResponseData;
    try {
      this.assertTransport(peer.endpointUrl);
      response = await request(peerUrl(peer.endpointUrl, path), {
        dispatcher: this.agent,
        method: 'POST',
        headers: { 'content-type': JOSE_MEDIA_TYPE, accept: JOSE_MEDIA_TYPE },
        body: envelope,
        signal,
      });
    } catch (error) {
      throw unreachable(error);
    }
    const header = (name: string): string => {
      const value = response.headers[name];
      return (Array.isArray(value) ? value[0] : value) ?? '';
    };
    if (response.statusCode !== 200) {
      // A short refusal is read to its end, so that the kept-alive connection can carry the next message.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      if (response.statusCode === 401) throw new PeerUnreachableError('refused', `${peer.nodeId} refused the message`);
      const retryAfterMs = parseRetryAfter(header('retry-after') || null) ?? undefined;
      if (response.statusCode === 429) throw new PeerUnreachableError('quota', `${peer.nodeId}: our quota there is spent`, retryAfterMs);
      throw new PeerUnreachableError(
        'http-status',
        `${peer.nodeId} answered HTTP ${response.statusCode}`,
        response.statusCode === 503 ? retryAfterMs : undefined,
      );
    }
    const type = header('content-type');
    const limit = this.config.PEER_BODY_LIMIT_BYTES;
    const length = Number(header('content-length') || 0);
    if (!type.toLowerCase().startsWith(JOSE_MEDIA_TYPE) || length > limit) {
      discard(response.body);
      throw this.notBelieved(peer, 'malformed', length > limit ? 'answer too large' : 'answer not application/jose');
    }
    let text: string | undefined;
    try {
      // Counted as it streams (a Content-Length can be absent or lie): cut off past the limit.
      text = await readBodyCapped(response.body, limit);
    } catch (error) {
      throw unreachable(error);
    }
    if (text === undefined) throw this.notBelieved(peer, 'malformed', 'answer too large');
    return text;
  }

  private async verifyReply<T extends LocationAnswerMessage | NumberingResultMessage>(
    peer: PeerNode,
    jti: string,
    sealed: string,
    typ: T['typ'],
    parse: (claims: unknown) => T,
  ): Promise<T> {
    try {
      const { claims } = await openEnvelope(sealed, this.identity, async (kid) => (kid === peer.nodeId ? peer.keys : undefined));
      checkClaims(claims, { typ, audience: this.identity.nodeId, issuer: peer.nodeId });
      const answer = parse(claims);
      if (answer.inReplyTo !== jti) throw new EnvelopeError('wrong-reply', 'inReplyTo is not the id of the query');
      return answer;
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      // Not a protocol message at all, or one that fails a check of who sent it, to whom, in reply to what.
      throw this.notBelieved(peer, error.reason === 'malformed' ? 'malformed' : 'forged', `${error.reason}: ${error.message}`);
    }
  }

  private notBelieved(peer: PeerNode, reason: 'forged' | 'malformed', detail: string): PeerUnreachableError {
    this.logger.warn({ peerNodeId: peer.nodeId, reason, detail }, 'answer of a peer node not believed');
    return new PeerUnreachableError(reason, `${peer.nodeId}: ${detail}`);
  }

  private believe(peer: PeerNode, query: LocationQueryMessage, answer: LocationAnswerMessage): PeerLocations {
    const behindPeer = new Set(peer.institutions.map((i) => i.code));
    const result: PeerLocations = new Map(query.queries.map((q) => [q.ref, []]));
    const droppedCodes = new Set<string>();
    let unknownRefs = 0;
    for (const { ref, institutions } of answer.answers) {
      const found = result.get(ref);
      if (!found) {
        unknownRefs++;
        continue;
      }
      for (const { code, accounts } of institutions) {
        if (behindPeer.has(code)) found.push({ code, accounts });
        else droppedCodes.add(code);
      }
    }
    if (droppedCodes.size > 0 || unknownRefs > 0) {
      this.logger.warn(
        { peerNodeId: peer.nodeId, droppedInstitutionCodes: [...droppedCodes], unknownRefs },
        'a peer node answered for institutions not registered behind it, or for refs not asked; dropped',
      );
    }
    return result;
  }
}
