import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { CompactJoseError, decodeProtectedHeader, signCompact, verifyCompact } from '../peers/compact-jose.js';
import { JWS_ALGORITHM, NODE_ID_PATTERN, type NodeIdentity, type PeerKeys } from '../peers/envelope.js';

/**
 * A checkpoint of the audit chain: "the chain of node `iss` had `seq` links, the last
 * one `head`, at `iat`", signed with the node's Ed25519 signing key (the key of its
 * peer messages) as a compact JWS (`alg: EdDSA`, `kid` = node id, `skid` = the key's
 * RFC 7638 thumbprint, as envelope.ts signs). Every seal writes one to the checkpoint
 * log (AUDIT_CHECKPOINT_FILE) and sends it to the peer nodes, which keep the newest of
 * each node (witnesses, as in certificate transparency). A chain shorter than a
 * checkpoint, or with another hash at its seq, was cut or rewritten after it was sealed.
 *
 * No personal data: positions, hashes and a time only.
 */
export interface AuditCheckpoint {
  /** The node whose chain it is. */
  nodeId: string;
  /** Links in the chain, as a decimal string (audit_chain.seq is a bigint). */
  seq: string;
  /** The hash of link `seq`, base64url. */
  head: string;
  /** When it was signed (ISO 8601). */
  signedAt: string;
}

export const CHECKPOINT_TYP = 'audit-checkpoint';
const SEQ = /^[1-9][0-9]{0,18}$/;
const HEAD = /^[A-Za-z0-9_-]{43}$/;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** A checkpoint is small: anything larger is not one (a witness stores what it is sent). */
export const MAX_CHECKPOINT_LENGTH = 2048;

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export async function signCheckpoint(identity: NodeIdentity, link: { seq: string; hash: Buffer }, now = new Date()): Promise<string> {
  const claims = {
    typ: CHECKPOINT_TYP,
    iss: identity.nodeId,
    seq: link.seq,
    head: link.hash.toString('base64url'),
    iat: Math.floor(now.getTime() / 1000),
  };
  return signCompact(
    Buffer.from(JSON.stringify(claims)),
    { kid: identity.nodeId, ...(identity.signingKid ? { skid: identity.signingKid } : {}) },
    identity.signingPrivateKey,
  );
}

/** The node id a checkpoint claims to be of (its header `kid`), before its signature is checked. */
export function checkpointSigner(jws: unknown): string {
  if (typeof jws !== 'string' || jws.length > MAX_CHECKPOINT_LENGTH || !COMPACT_JWS.test(jws)) {
    throw new CheckpointError('not a compact JWS');
  }
  let kid: unknown;
  try {
    const header = decodeProtectedHeader(jws);
    if (header.alg !== JWS_ALGORITHM) throw new Error('alg');
    kid = header.kid;
  } catch {
    throw new CheckpointError('not an EdDSA JWS');
  }
  if (typeof kid !== 'string' || !NODE_ID_PATTERN.test(kid)) throw new CheckpointError('kid is not a node id');
  return kid;
}

/**
 * Verifies a checkpoint against the keys of the node it names (current or previous
 * signing keys: a checkpoint outlives a key rotation, so the notAfter of a previous key
 * bounds when it may have signed, not when it is read: a checkpoint that a previous key
 * signed with an `iat` past that key's notAfter is refused, since whoever holds a retired
 * key could otherwise sign checkpoints dated after its retirement) and returns what it says.
 */
export async function verifyCheckpoint(jws: unknown, signer: Pick<PeerKeys, 'nodeId' | 'signingKey' | 'previousSigningKeys'>): Promise<AuditCheckpoint> {
  if (checkpointSigner(jws) !== signer.nodeId) throw new CheckpointError('signed by another node');
  const candidates: { key: KeyObject; notAfter?: number }[] = [
    { key: signer.signingKey },
    ...(signer.previousSigningKeys ?? []).map((p) => ({ key: p.key, notAfter: p.notAfter })),
  ];
  let payload: Uint8Array | undefined;
  let retiredAt: number | undefined;
  for (const candidate of candidates) {
    try {
      ({ payload } = verifyCompact(jws as string, [candidate.key]));
      retiredAt = candidate.notAfter;
      break;
    } catch (error) {
      if (!(error instanceof CompactJoseError)) throw error;
    }
  }
  if (!payload) throw new CheckpointError('bad signature');
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as Record<string, unknown>;
  } catch {
    throw new CheckpointError('payload is not JSON');
  }
  const { typ, iss, seq, head, iat } = claims ?? {};
  if (typ !== CHECKPOINT_TYP || iss !== signer.nodeId) throw new CheckpointError('not a checkpoint of this node');
  if (typeof seq !== 'string' || !SEQ.test(seq) || typeof head !== 'string' || !HEAD.test(head)) {
    throw new CheckpointError('seq or head malformed');
  }
  if (typeof iat !== 'number' || !Number.isInteger(iat) || iat < 0) throw new CheckpointError('iat malformed');
  if (retiredAt !== undefined && iat > retiredAt) throw new CheckpointError('signed by a previous key after its notAfter');
  return { nodeId: iss, seq, head, signedAt: new Date(iat * 1000).toISOString() };
}

const publicKeyOf = (jwk: { crv?: string; x?: string }) =>
  createPublicKey({ key: { kty: 'OKP', crv: jwk.crv!, x: jwk.x! }, format: 'jwk' });

/** This node's own public signing keys (current and previous), as verifyCheckpoint takes them. */
export async function ownSigningKeys(identity: NodeIdentity): Promise<Pick<PeerKeys, 'nodeId' | 'signingKey' | 'previousSigningKeys'>> {
  const previous = identity.previous.filter((p) => p.signingJwk && p.signingKid);
  return {
    nodeId: identity.nodeId,
    signingKey: publicKeyOf(identity.signingJwk),
    previousSigningKeys: previous.map((p) => ({ kid: p.signingKid!, key: publicKeyOf(p.signingJwk!), notAfter: p.notAfter })),
  };
}

/**
 * The peers that witness `nodeId`'s checkpoints: the `count` with the highest
 * SHA-256(nodeId, peer) (rendezvous hashing). Adding or removing a peer changes at most
 * one witness; two nodes with the same peers pick different witnesses. Every peer would
 * make each seal cost a message per peer, as much as an inquiry's fan-out.
 */
export function witnessesOf<P extends { nodeId: string }>(nodeId: string, peers: readonly P[], count: number): P[] {
  const rank = (peer: P) => createHash('sha256').update(`${nodeId}\n${peer.nodeId}`).digest('hex');
  return peers
    .map((peer) => ({ peer, rank: rank(peer) }))
    .sort((a, b) => (a.rank < b.rank ? 1 : a.rank > b.rank ? -1 : 0))
    .slice(0, count)
    .map((r) => r.peer);
}
