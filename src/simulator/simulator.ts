import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JWK } from 'jose';
import { buildProblem } from '../common/errors/problem.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../common/errors/error-codes.js';
import type { AccountRef } from '../linkages/linkage.types.js';
import {
  CLOCK_SKEW_SECONDS,
  EnvelopeError,
  MAX_MESSAGE_LIFETIME_SECONDS,
  NODE_ID_PATTERN,
  checkClaims,
  createNodeIdentity,
  epochSeconds,
  openEnvelope,
  sealEnvelope,
  type NodeIdentity,
} from '../peers/envelope.js';
import { verifyCheckpoint, type AuditCheckpoint } from '../audit/audit-checkpoint.js';
import { publishedNode, signKeyStatement } from '../peers/key-statement.js';
import {
  newMessageId,
  parseLocationQueryMessage,
  parseNumberingNoticeMessage,
  PeerMessageRefusal,
  PROTOCOL_VERSION,
  type LocatedInstitution,
  type LocationAnswerMessage,
  type LocationQuery,
  type NumberedInstitution,
  type NumberingResultMessage,
} from '../peers/peer-messages.js';
import { isKanaName } from '../common/kana/kana-name.js';
import { isCalendarDate } from '../common/validation/validators.js';
import { AccountBook, checkAccountRecords, readAccountsFile, type AccountRecord } from './account-book.js';
import {
  DEFAULT_FAULTS,
  checkFaultChange,
  faultFields,
  selectNodes,
  type ControlChange,
  type FaultOverride,
  type FaultSettings,
} from './faults.js';
import { seededPrivateJwk } from './node-keys.js';
import { seedBytes, seededRandom, type Seed, type SimulatedHolder } from './seeded.js';
import { TrustStore, type PublishedNode } from './trust-store.js';

export interface SimulatorOptions {
  /** How many simulated peer nodes (1–10,000). */
  nodes: number;
  /** 0 (default) = any free port. */
  port?: number;
  host?: string;
  /** Node i is `${nodeIdPrefix}${i}` (default `sim-`). */
  nodeIdPrefix?: string;
  institutionsPerNode?: number;
  /** Node i's institution j has the Zengin code codeBase + i × institutionsPerNode + j (default 5000). */
  codeBase?: number;
  /** Keys, seeded accounts and fault draws all derive from it (default 42). */
  seed?: Seed;
  /** Probability that a number holds accounts at a given institution (default 0.01). */
  hitRate?: number;
  /**
   * Numbering notices: of the numbers that hold no account at an institution, the
   * fraction answered `ambiguous` rather than `no-match` (default 0.1).
   */
  ambiguousRate?: number;
  /**
   * Who holds every number's accounts (a location query lists them only for this name
   * and birth date) where an accounts record names nobody; by default each number's
   * seeded holder (seededHolder()).
   */
  holder?: SimulatedHolder;
  /** Accounts held in addition to the seeded ones. */
  accounts?: AccountRecord[];
  /** The same, from an NDJSON file. */
  accountsFile?: string;
  /** The kouza-hub nodes whose messages are answered: `GET /v1/node` URLs or published keys. */
  trust?: Array<string | PublishedNode>;
  /** Faults of every node (default: 20 ms latency, nothing else). */
  faults?: Partial<FaultSettings>;
  /** Per-node faults, applied in order over the defaults. */
  overrides?: FaultOverride[];
  /** exp − iat of the answers (default 60). */
  messageTtlSeconds?: number;
  bodyLimitBytes?: number;
}

/** Exactly the body of kouza-hub's `POST /v1/peers` for one simulated node. */
export interface NodeRegistration {
  nodeId: string;
  endpointUrl: string;
  signingKey: JWK;
  encryptionKey: JWK;
  institutions: { code: string; name: string }[];
}

export interface NodeStats {
  messages: number;
  queries: number;
  refused: number;
}

export interface SimulatorStats extends NodeStats {
  /** Messages answered 200 (including those signed with a wrong key). */
  answered: number;
  /** Messages that met a fault instead of their normal handling. */
  faults: { error: number; timeout: number; badSignature: number; down: number; quota: number };
  /** Only the nodes that received messages, by index. */
  byNode: Record<string, NodeStats>;
}

export interface RunningSimulator {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** One registration per node, in index order (also served at `GET /manifest`). */
  readonly manifest: readonly NodeRegistration[];
  /** Answer messages signed by this node from now on (same as `POST /trust`). */
  trust(node: PublishedNode): Promise<void>;
  /** Change faults at runtime (same as `POST /control`); returns how many nodes changed. */
  control(change: ControlChange): number;
  faultsOf(index: number): Readonly<FaultSettings>;
  /** The accounts a simulated institution holds for a number (seeded and listed). */
  accountsAt(myNumber: string, institutionCode: string): AccountRef[];
  /** Who holds them there: a location query lists them only for this name (key) and birth date. */
  holderAt(myNumber: string, institutionCode: string): SimulatedHolder;
  /** What a simulated institution answers to a numbering notice for a number. */
  numberingAt(myNumber: string, institutionCode: string): NumberedInstitution;
  stats(): SimulatorStats;
  resetStats(): void;
  close(): Promise<void>;
}

interface SimulatedNode {
  index: number;
  nodeId: string;
  identity: NodeIdentity;
  /** The node's id and encryption key, but another signing key: a forged answer. */
  impostor: NodeIdentity;
  institutions: { code: string; name: string }[];
  faults: FaultSettings;
  random: () => number;
  stats: NodeStats;
  /** Replay protection: `${iss}\n${jti}` → exp, kept while the message could still be accepted. */
  seen: Map<string, number>;
  published: Buffer;
  /** As a witness: the newest audit checkpoint (compact JWS) received from each node. */
  checkpoints: Map<string, { seq: bigint; jws: string }>;
}

const MAX_NODES = 10_000;
const MAX_CODE = 9999;
const DEFAULT_BODY_LIMIT = 1024 * 1024;
const SWEEP_INTERVAL_MS = 10_000;
const NODE_ROUTE = /^\/nodes\/(\d{1,5})(\/.*)$/;
const QUERY_PATH = '/v1/peer/location-queries';
const NUMBERING_PATH = '/v1/peer/numbering-notices';
const CHECKPOINTS_PATH = '/v1/peer/audit-checkpoints';
const CHECKPOINT_QUERY_PATH = '/v1/peer/audit-checkpoints/latest';
const JOSE_TYPE = 'application/jose';
const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/** Whatever check failed, the sender learns only that its message was refused. */
const REFUSED = problemBody('PEER_MESSAGE_REFUSED', 'The message was refused.');

function problemBody(code: ErrorCode, detail?: string): Buffer {
  return Buffer.from(JSON.stringify(buildProblem(code, detail)));
}

function send(res: ServerResponse, status: number, contentType: string, body: Buffer | string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendProblem(res: ServerResponse, code: ErrorCode, detail?: string): void {
  const body = code === 'PEER_MESSAGE_REFUSED' ? REFUSED : problemBody(code, detail);
  send(res, ERROR_CATALOGUE[code].status, PROBLEM_TYPE, body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON_TYPE, JSON.stringify(value));
}

class BodyTooLarge extends Error {}
/** A control or trust request the simulator cannot take (answered 422 with the message). */
class InvalidRequest extends Error {}

/** The body as text, or BodyTooLarge past `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        reject(new BodyTooLarge());
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString()));
    req.on('error', reject);
    // A client that goes away mid-body (after 'end' this settles nothing).
    req.on('close', () => reject(new Error('the client closed the request')));
  });
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return JSON.parse(await readBody(req, limit));
}

function integerOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function emptyStats(): NodeStats {
  return { messages: 0, queries: 0, refused: 0 };
}

function institutionsOf(index: number, perNode: number, codeBase: number) {
  return Array.from({ length: perNode }, (_, j) => {
    const code = String(codeBase + index * perNode + j).padStart(4, '0');
    return { code, name: `Simulated Bank ${code}` };
  });
}

type NodeLayout = Required<
  Pick<SimulatorOptions, 'nodes' | 'nodeIdPrefix' | 'institutionsPerNode' | 'codeBase' | 'seed'>
>;

const seededIdentity = (seed: Seed, nodeId: string, purpose: string): Promise<NodeIdentity> =>
  createNodeIdentity(nodeId, seededPrivateJwk(seed, purpose, 'Ed25519'), seededPrivateJwk(seed, purpose, 'X25519'));

async function publishedWithStatement(identity: NodeIdentity): Promise<Record<string, unknown>> {
  const node = publishedNode(identity);
  return { ...node, keyStatement: await signKeyStatement(identity, node) };
}

async function createNodes(layout: NodeLayout): Promise<SimulatedNode[]> {
  const { seed } = layout;
  // One forging key for all nodes: a bad signature only needs to be by a key that is not the node's.
  const impostorKey = (await seededIdentity(seed, 'impostor', 'impostor')).signingPrivateKey;
  const nodes: SimulatedNode[] = [];
  for (let index = 0; index < layout.nodes; index++) {
    const nodeId = `${layout.nodeIdPrefix}${index}`;
    const identity = await seededIdentity(seed, nodeId, `node/${index}`);
    nodes.push({
      index,
      nodeId,
      identity,
      impostor: { ...identity, signingPrivateKey: impostorKey },
      institutions: institutionsOf(index, layout.institutionsPerNode, layout.codeBase),
      faults: { ...DEFAULT_FAULTS },
      random: seededRandom(seed, `faults/${index}`),
      stats: emptyStats(),
      seen: new Map(),
      checkpoints: new Map(),
      // As a kouza-hub publishes it: the keys, and the key statement signed by the node's key.
      published: Buffer.from(JSON.stringify(await publishedWithStatement(identity))),
    });
  }
  return nodes;
}

interface Totals {
  answered: number;
  refused: number;
  faults: SimulatorStats['faults'];
}

const emptyTotals = (): Totals => ({
  answered: 0,
  refused: 0,
  faults: { error: 0, timeout: 0, badSignature: 0, down: 0, quota: 0 },
});

interface Settings {
  seed: Seed;
  ttl: number;
  bodyLimit: number;
  ambiguousRate: number;
}

class Simulator implements RunningSimulator {
  private totals = emptyTotals();
  private readonly server: Server;
  private readonly sweep: NodeJS.Timeout;
  url = '';
  port = 0;
  manifest: NodeRegistration[] = [];
  private manifestBody = Buffer.alloc(0);

  constructor(
    private readonly nodes: SimulatedNode[],
    private readonly book: AccountBook,
    private readonly trustStore: TrustStore,
    private readonly settings: Settings,
  ) {
    this.server = createServer({ keepAlive: true, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => this.fail(res, error));
    });
    // A benchmark opens a connection per peer node and more; idle ones stay for the next burst.
    this.server.maxConnections = 100_000;
    this.server.keepAliveTimeout = 30_000;
    // Forget jtis whose messages would now be refused as expired anyway.
    this.sweep = setInterval(() => {
      const horizon = epochSeconds() - CLOCK_SKEW_SECONDS;
      for (const node of this.nodes) for (const [key, exp] of node.seen) if (exp <= horizon) node.seen.delete(key);
    }, SWEEP_INTERVAL_MS);
    this.sweep.unref();
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: 4096 }, resolve);
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://${host}:${this.port}`;
    this.manifest = this.nodes.map((node) => ({
      nodeId: node.nodeId,
      endpointUrl: `${this.url}/nodes/${node.index}`,
      signingKey: node.identity.signingJwk,
      encryptionKey: node.identity.encryptionJwk,
      institutions: node.institutions,
    }));
    this.manifestBody = Buffer.from(JSON.stringify(this.manifest));
  }

  async trust(node: PublishedNode): Promise<void> {
    await this.trustStore.trust(node);
  }

  control(change: ControlChange): number {
    checkFaultChange(change, this.nodes.length);
    const selected = selectNodes(change.nodes, this.nodes.length, this.settings.seed);
    const fields = faultFields(change);
    for (const i of selected) Object.assign(this.nodes[i].faults, fields);
    return selected.length;
  }

  faultsOf(index: number): Readonly<FaultSettings> {
    return { ...this.nodes[integerOption('index', index, 0, this.nodes.length - 1)].faults };
  }

  accountsAt(myNumber: string, institutionCode: string): AccountRef[] {
    return this.book.accounts(myNumber, institutionCode);
  }

  holderAt(myNumber: string, institutionCode: string): SimulatedHolder {
    return { ...this.book.holder(myNumber, institutionCode) };
  }

  /**
   * The simulated register holds the depositor where the account book gives the number
   * accounts: attached, with that many accounts. Elsewhere a hash of (seed, number,
   * code) decides: under ambiguousRate several customers match (ambiguous), else none.
   */
  numberingAt(myNumber: string, institutionCode: string): NumberedInstitution {
    const accounts = this.book.accounts(myNumber, institutionCode).length;
    if (accounts > 0) return { code: institutionCode, status: 'attached', accounts };
    const draw = seedBytes(this.settings.seed, `numbering/${myNumber}/${institutionCode}`).readUInt32BE(0) / 2 ** 32;
    return draw < this.settings.ambiguousRate
      ? { code: institutionCode, status: 'ambiguous', reason: 'several-customers' }
      : { code: institutionCode, status: 'no-match', reason: 'no-candidate' };
  }

  stats(): SimulatorStats {
    const { answered, refused, faults } = this.totals;
    const result: SimulatorStats = { messages: 0, queries: 0, refused, answered, faults: { ...faults }, byNode: {} };
    for (const node of this.nodes) {
      if (node.stats.messages === 0) continue;
      result.messages += node.stats.messages;
      result.queries += node.stats.queries;
      result.byNode[node.index] = { ...node.stats };
    }
    return result;
  }

  resetStats(): void {
    this.totals = emptyTotals();
    for (const node of this.nodes) node.stats = emptyStats();
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Also ends the requests held by the timeout fault.
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    const nodeRoute = NODE_ROUTE.exec(path);
    if (nodeRoute) {
      const node = this.nodes[Number(nodeRoute[1])];
      if (node && nodeRoute[2] === QUERY_PATH && req.method === 'POST') {
        return this.handleMessage(node, req, res, (body, forge) => this.answer(node, body, forge));
      }
      if (node && nodeRoute[2] === NUMBERING_PATH && req.method === 'POST') {
        return this.handleMessage(node, req, res, (body, forge) => this.answerNumbering(node, body, forge));
      }
      if (node && nodeRoute[2] === '/v1/node' && req.method === 'GET') return send(res, 200, JSON_TYPE, node.published);
      // As a witness of the hub's audit chain (no faults: they are drawn for location queries only).
      if (node && nodeRoute[2] === CHECKPOINTS_PATH && req.method === 'POST') return this.witness(node, req, res, 'notice');
      if (node && nodeRoute[2] === CHECKPOINT_QUERY_PATH && req.method === 'POST') return this.witness(node, req, res, 'query');
      return sendProblem(res, 'ROUTE_NOT_FOUND');
    }
    switch (`${req.method} ${path}`) {
      case 'GET /manifest':
        return send(res, 200, JSON_TYPE, this.manifestBody);
      case 'GET /stats':
        return sendJson(res, 200, this.stats());
      case 'POST /stats/reset':
        this.resetStats();
        return sendJson(res, 200, this.stats());
      case 'POST /control': {
        const change = await readJson(req, this.settings.bodyLimit);
        const updated = await invalidRequestOnError(() => this.control(change as ControlChange));
        return sendJson(res, 200, { updated });
      }
      case 'POST /trust': {
        const published = (await readJson(req, this.settings.bodyLimit)) as PublishedNode;
        await invalidRequestOnError(() => this.trust(published));
        return sendJson(res, 200, { trusted: published.nodeId });
      }
      default:
        return sendProblem(res, 'ROUTE_NOT_FOUND');
    }
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (res.headersSent || res.destroyed) return;
    if (error instanceof BodyTooLarge) {
      res.setHeader('connection', 'close');
      return sendProblem(res, 'PAYLOAD_TOO_LARGE');
    }
    if (error instanceof SyntaxError) return sendProblem(res, 'MALFORMED_JSON');
    if (error instanceof InvalidRequest) return sendProblem(res, 'VALIDATION_FAILED', error.message);
    console.error('simulator: unexpected error', error);
    sendProblem(res, 'INTERNAL_ERROR');
  }

  /** A protocol message to a node, with the node's faults; `answer` opens it and seals the reply. */
  private async handleMessage(
    node: SimulatedNode,
    req: IncomingMessage,
    res: ServerResponse,
    answer: (body: string, forge: boolean) => Promise<string>,
  ): Promise<void> {
    node.stats.messages++;
    const { faults } = node;
    const counts = this.totals.faults;
    // Always three draws per message, so that node i's k-th message meets the same fate in every run.
    const jitter = node.random();
    const fate = node.random();
    const forge = node.random() < faults.badSignatureRate;
    if (faults.down) {
      counts.down++;
      req.socket.destroy();
      return;
    }
    const body = await readBody(req, this.settings.bodyLimit);
    const delay = faults.latencyMs + jitter * faults.jitterMs;
    if (delay > 0) await sleep(delay);
    if (fate < faults.errorRate) {
      counts.error++;
      return sendProblem(res, 'INTERNAL_ERROR');
    }
    if (fate < faults.errorRate + faults.timeoutRate) {
      // Never answered: the client gives up, or close() ends the connection.
      counts.timeout++;
      return;
    }
    if (fate < faults.errorRate + faults.timeoutRate + faults.quotaRate) {
      counts.quota++;
      res.setHeader('retry-after', String(faults.retryAfterSeconds));
      return sendProblem(res, 'PEER_QUOTA_EXCEEDED');
    }
    let sealed: string;
    try {
      if (!req.headers['content-type']?.startsWith(JOSE_TYPE)) throw new EnvelopeError('not-jose');
      sealed = await answer(body, forge);
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      node.stats.refused++;
      this.totals.refused++;
      // As kouza-hub: an authenticated sender is told why (another protocol version, a claim of death without its grounds).
      if (error instanceof PeerMessageRefusal) return sendProblem(res, error.code, error.message);
      return sendProblem(res, 'PEER_MESSAGE_REFUSED');
    }
    this.totals.answered++;
    if (forge) counts.badSignature++;
    send(res, 200, JOSE_TYPE, sealed);
  }

  /**
   * The witness protocol as kouza-hub speaks it: an `audit-checkpoint-notice` is opened,
   * checked, its checkpoint verified against the sender's key and kept if newest (204); an
   * `audit-checkpoint-query` is answered with the newest held of the node asked.
   */
  private async witness(node: SimulatedNode, req: IncomingMessage, res: ServerResponse, kind: 'notice' | 'query'): Promise<void> {
    const body = await readBody(req, this.settings.bodyLimit);
    try {
      if (!req.headers['content-type']?.startsWith(JOSE_TYPE)) throw new EnvelopeError('not-jose');
      const { claims, sender } = await openEnvelope(body, node.identity, this.trustStore.resolve);
      checkClaims(claims, { typ: kind === 'notice' ? 'audit-checkpoint-notice' : 'audit-checkpoint-query', audience: node.nodeId, issuer: sender.nodeId });
      const { jti, exp } = claims as { jti?: unknown; exp: number };
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > 128) throw new EnvelopeError('malformed', 'jti');
      claimOnce(node, sender.nodeId, jti, exp);
      if (kind === 'notice') {
        let checkpoint: AuditCheckpoint;
        try {
          checkpoint = await verifyCheckpoint(claims.checkpoint, sender);
        } catch {
          throw new EnvelopeError('malformed', 'the checkpoint does not verify');
        }
        const held = node.checkpoints.get(sender.nodeId);
        if (!held || BigInt(checkpoint.seq) > held.seq) {
          node.checkpoints.set(sender.nodeId, { seq: BigInt(checkpoint.seq), jws: claims.checkpoint as string });
        }
        res.writeHead(204).end();
        return;
      }
      const asked = typeof claims.node === 'string' ? claims.node : '';
      const iat = epochSeconds();
      const answer = {
        typ: 'audit-checkpoint-answer',
        iss: node.nodeId,
        aud: sender.nodeId,
        jti: newMessageId(),
        iat,
        exp: iat + this.settings.ttl,
        inReplyTo: jti,
        node: asked,
        checkpoint: node.checkpoints.get(asked)?.jws ?? null,
      };
      send(res, 200, JOSE_TYPE, await sealEnvelope(answer, node.identity, sender));
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      node.stats.refused++;
      this.totals.refused++;
      sendProblem(res, 'PEER_MESSAGE_REFUSED');
    }
  }

  /** Opens and checks a query like a real peer, and seals the answer; EnvelopeError for any refusal. */
  private async answer(node: SimulatedNode, body: string, forge: boolean): Promise<string> {
    const { claims, sender } = await openEnvelope(body, node.identity, this.trustStore.resolve);
    checkClaims(claims, { typ: 'location-query', audience: node.nodeId, issuer: sender.nodeId });
    const query = parseLocationQueryMessage(claims);
    claimOnce(node, query.iss, query.jti, query.exp);
    node.stats.queries += query.queries.length;
    const iat = epochSeconds();
    const message: LocationAnswerMessage = {
      v: PROTOCOL_VERSION,
      typ: 'location-answer',
      iss: node.nodeId,
      aud: sender.nodeId,
      jti: newMessageId(),
      iat,
      exp: iat + this.settings.ttl,
      inReplyTo: query.jti,
      answers: query.queries.map((q) => ({ ref: q.ref, institutions: this.locate(node, q) })),
    };
    return sealEnvelope({ ...message }, forge ? node.impostor : node.identity, sender);
  }

  /** Opens and checks a numbering-notice like a real peer; every asked institution of the node is answered. */
  private async answerNumbering(node: SimulatedNode, body: string, forge: boolean): Promise<string> {
    const { claims, sender } = await openEnvelope(body, node.identity, this.trustStore.resolve);
    checkClaims(claims, { typ: 'numbering-notice', audience: node.nodeId, issuer: sender.nodeId });
    const notice = parseNumberingNoticeMessage(claims);
    claimOnce(node, notice.iss, notice.jti, notice.exp);
    node.stats.queries += notice.notices.length;
    const hosted = new Set(node.institutions.map((i) => i.code));
    const iat = epochSeconds();
    const message: NumberingResultMessage = {
      v: PROTOCOL_VERSION,
      typ: 'numbering-result',
      iss: node.nodeId,
      aud: sender.nodeId,
      jti: newMessageId(),
      iat,
      exp: iat + this.settings.ttl,
      inReplyTo: notice.jti,
      results: notice.notices.map((n) => ({
        ref: n.ref,
        institutions: n.institutions.filter((code) => hosted.has(code)).map((code) => this.numberingAt(n.myNumber, code)),
      })),
    };
    return sealEnvelope({ ...message }, forge ? node.impostor : node.identity, sender);
  }

  /** Where the node's institutions hold accounts of the query's subject (number, name key and birth date). */
  private locate(node: SimulatedNode, query: LocationQuery): LocatedInstitution[] {
    const found: LocatedInstitution[] = [];
    for (const { code } of node.institutions) {
      const accounts = this.book.accountsOf(query, code);
      if (accounts.length > 0) found.push({ code, accounts });
    }
    return found;
  }
}

/** A message id accepted once per sender and node (kept until its exp); a replay is refused. */
function claimOnce(node: SimulatedNode, sender: string, jti: string, exp: number): void {
  const key = `${sender}\n${jti}`;
  if (node.seen.has(key)) throw new EnvelopeError('replayed');
  node.seen.set(key, exp);
}

/** Runs `action`; what it throws becomes an InvalidRequest (422 with its message). */
async function invalidRequestOnError<T>(action: () => T | Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw new InvalidRequest((error as Error).message);
  }
}

/**
 * Starts N simulated peer nodes behind one HTTP server on loopback. Node i answers
 * `POST /nodes/<i>/v1/peer/location-queries` and `POST /nodes/<i>/v1/peer/numbering-notices`
 * exactly as a kouza-hub peer would (same envelope, same refusals) for its institutions,
 * with the faults it is told to have.
 */
export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const nodeCount = integerOption('nodes', options.nodes, 1, MAX_NODES);
  const institutionsPerNode = integerOption('institutionsPerNode', options.institutionsPerNode ?? 1, 1, MAX_CODE);
  const codeBase = integerOption('codeBase', options.codeBase ?? 5000, 0, MAX_CODE);
  if (codeBase + nodeCount * institutionsPerNode - 1 > MAX_CODE) {
    throw new RangeError(`codeBase + nodes × institutionsPerNode must not pass ${MAX_CODE}`);
  }
  const nodeIdPrefix = options.nodeIdPrefix ?? 'sim-';
  if (!NODE_ID_PATTERN.test(`${nodeIdPrefix}${nodeCount - 1}`)) {
    throw new RangeError('nodeIdPrefix: node ids must be 1-64 of A-Z a-z 0-9 . _ -');
  }
  const seed = options.seed ?? 42;
  const hitRate = options.hitRate ?? 0.01;
  if (!(hitRate >= 0 && hitRate <= 1)) throw new RangeError('hitRate must be from 0 to 1');
  const ambiguousRate = options.ambiguousRate ?? 0.1;
  if (!(ambiguousRate >= 0 && ambiguousRate <= 1)) throw new RangeError('ambiguousRate must be from 0 to 1');
  if (options.holder && (!isKanaName(options.holder.nameKana) || !isCalendarDate(options.holder.birthDate))) {
    throw new RangeError('holder must be {nameKana: a kana name, birthDate: YYYY-MM-DD}');
  }
  const settings: Settings = {
    seed,
    ambiguousRate,
    ttl: integerOption('messageTtlSeconds', options.messageTtlSeconds ?? 60, 1, MAX_MESSAGE_LIFETIME_SECONDS),
    bodyLimit: integerOption('bodyLimitBytes', options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT, 1024, 2 ** 30),
  };

  const nodes = await createNodes({ nodes: nodeCount, nodeIdPrefix, institutionsPerNode, codeBase, seed });
  const codes = new Set(nodes.flatMap((n) => n.institutions.map((inst) => inst.code)));
  const records = [...(options.accounts ?? [])];
  checkAccountRecords(records, codes);
  if (options.accountsFile) records.push(...(await readAccountsFile(options.accountsFile, codes)));

  const trust = options.trust ?? [];
  const trustStore = new TrustStore(trust.filter((t): t is string => typeof t === 'string'));
  for (const node of trust) if (typeof node !== 'string') await trustStore.trust(node);

  const simulator = new Simulator(nodes, new AccountBook(seed, hitRate, records, options.holder && { nameKana: options.holder.nameKana, birthDate: options.holder.birthDate }), trustStore, settings);
  try {
    simulator.control({ nodes: 'all', ...options.faults });
    for (const override of options.overrides ?? []) simulator.control(override);
    await simulator.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  } catch (error) {
    await simulator.close();
    throw error;
  }
  return simulator;
}
