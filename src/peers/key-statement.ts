import { GeneralSign, generalVerify } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { GeneralJWS, JWK } from 'jose';
import { CLOCK_SKEW_SECONDS, epochSeconds, JWS_ALGORITHM, NODE_ID_PATTERN, type NodeIdentity } from './envelope.js';

/**
 * Key statements: what a node says its keys are, signed by its keys.
 *
 * `GET /v1/node` publishes, next to its plain fields (`nodeId`, `signingKey`,
 * `encryptionKey`, `keys`, which older readers keep reading), `keyStatement`: a JWS in
 * the General JSON Serialization (RFC 7515 §7.2.1) whose payload is
 * `{nodeId, iat, signingKey, encryptionKey, keys}` (the same members as the plain
 * answer, `iat` a NumericDate) and which carries one signature per signing key the
 * node holds: the current one and every previous one still within its grace period
 * whose private half is configured (NODE_PREVIOUS_KEYS). Each signature's protected
 * header is `{alg: "EdDSA", typ: "kouza-key-statement+jws", kid: <RFC 7638 thumbprint>}`.
 *
 * A peer refreshing its copy of our keys believes a change only when one of those
 * signatures verifies with a key it already trusts for us (the current signing key it
 * holds, or a previous one before its notAfter): the node's own say-so, not whoever
 * answers at its URL. It also refuses a statement no newer than the last it believed.
 */

/** The JWS `typ` of a key statement: a token of its own, never taken for a message. */
export const KEY_STATEMENT_TYPE = 'kouza-key-statement+jws';

/** A key as GET /v1/node lists it in `keys`. */
export interface PublishedKey {
  kty: string;
  crv: string;
  x: string;
  kid: string;
  use: 'sig' | 'enc';
  status: 'current' | 'previous';
  notAfter?: string;
}

/** The members of GET /v1/node that describe keys, and what a key statement signs (with iat). */
export interface PublishedNode {
  nodeId: string;
  signingKey: { kty: string; crv: string; x: string };
  encryptionKey: { kty: string; crv: string; x: string };
  keys: PublishedKey[];
}

export type KeyStatement = GeneralJWS;

/** Why a statement is not believed (logged, audited, a label of nothing: reasons are few). */
export type KeyStatementRefusal = 'absent' | 'malformed' | 'untrusted-signature' | 'wrong-node-id' | 'stale' | 'future' | 'inconsistent';

export class KeyStatementError extends Error {
  override name = 'KeyStatementError';
  constructor(
    readonly reason: KeyStatementRefusal,
    message?: string,
  ) {
    super(message ?? reason);
  }
}

const bare = (jwk: JWK) => ({ kty: String(jwk.kty), crv: String(jwk.crv), x: String(jwk.x) });

/** What this node publishes at GET /v1/node now: current keys, and previous signing keys until their notAfter. */
export function publishedNode(identity: NodeIdentity, now = epochSeconds()): PublishedNode {
  const { nodeId, signingJwk, encryptionJwk, signingKid, encryptionKid, previous } = identity;
  return {
    nodeId,
    // The current keys, as nodes that predate rotation read them.
    signingKey: bare(signingJwk),
    encryptionKey: bare(encryptionJwk),
    keys: [
      { ...bare(signingJwk), kid: signingKid, use: 'sig', status: 'current' },
      { ...bare(encryptionJwk), kid: encryptionKid, use: 'enc', status: 'current' },
      // Previous encryption keys are never published: peers encrypt to the current one only.
      ...(previous ?? [])
        .filter((p) => p.signingJwk && p.notAfter > now)
        .map((p) => ({
          ...bare(p.signingJwk!),
          kid: p.signingKid!,
          use: 'sig' as const,
          status: 'previous' as const,
          notAfter: new Date(p.notAfter * 1000).toISOString(),
        })),
    ],
  };
}

/** Signs `node` (with `iat`) with the identity's current signing key and each previous one held privately and still valid. */
export async function signKeyStatement(identity: NodeIdentity, node: PublishedNode, iat = epochSeconds()): Promise<KeyStatement> {
  const payload = new TextEncoder().encode(JSON.stringify({ ...node, iat }));
  const signer = new GeneralSign(payload);
  const keys: { key: KeyObject; kid: string }[] = [{ key: identity.signingPrivateKey, kid: identity.signingKid }];
  for (const p of identity.previous ?? []) {
    if (p.signingPrivateKey && p.signingKid && p.notAfter > iat) keys.push({ key: p.signingPrivateKey, kid: p.signingKid });
  }
  for (const { key, kid } of keys) {
    signer.addSignature(key).setProtectedHeader({ alg: JWS_ALGORITHM, typ: KEY_STATEMENT_TYPE, kid });
  }
  return signer.sign();
}

const statements = new WeakMap<NodeIdentity, { published: string; statement: Promise<KeyStatement> }>();

/**
 * The statement of what `identity` publishes now, signed once and kept while that stays
 * the same (a previous key reaching its notAfter makes a new one, with a new iat).
 */
export function currentKeyStatement(identity: NodeIdentity, now = epochSeconds()): { node: PublishedNode; statement: Promise<KeyStatement> } {
  const node = publishedNode(identity, now);
  const published = JSON.stringify(node);
  const cached = statements.get(identity);
  if (cached && cached.published === published) return { node, statement: cached.statement };
  const statement = signKeyStatement(identity, node, now);
  statement.catch(() => statements.delete(identity));
  statements.set(identity, { published, statement });
  return { node, statement };
}

/** A signing key this node already trusts for the peer, named by its thumbprint. */
export interface TrustedSigningKey {
  kid: string;
  key: KeyObject;
}

/** What a believed statement says: its payload (not yet checked as keys: the caller parses it) and its iat. */
export interface EndorsedStatement {
  node: Record<string, unknown>;
  iat: number;
  /** The thumbprint of the trusted key whose signature verified. */
  signedBy: string;
}

/**
 * Verifies a key statement of `nodeId` against keys already trusted for it. Throws
 * KeyStatementError unless a signature by one of them verifies, the typ is a key
 * statement's, the payload names `nodeId`, and its iat is newer than `notBefore` (the
 * last statement believed) and not in the future.
 */
export async function verifyKeyStatement(
  statement: unknown,
  nodeId: string,
  trusted: TrustedSigningKey[],
  options: { notBefore?: number; now?: number } = {},
): Promise<EndorsedStatement> {
  if (statement === undefined || statement === null) throw new KeyStatementError('absent', 'no keyStatement published');
  if (typeof statement !== 'object' || Array.isArray(statement)) throw new KeyStatementError('malformed', 'keyStatement is not a JSON object');
  const { payload, signatures } = statement as Record<string, unknown>;
  if (typeof payload !== 'string' || !Array.isArray(signatures) || signatures.length === 0 || signatures.length > 16) {
    throw new KeyStatementError('malformed', 'keyStatement is not a General JWS (payload, 1 to 16 signatures)');
  }
  let result: Awaited<ReturnType<typeof generalVerify>>;
  try {
    result = await generalVerify(
      { payload, signatures: signatures as KeyStatement['signatures'] },
      // jose tries each signature in turn with the key this returns: only trusted ones, by kid and typ.
      (header) => {
        const key = header.typ === KEY_STATEMENT_TYPE ? trusted.find((t) => t.kid === header.kid) : undefined;
        if (!key) throw new Error('not a trusted key');
        return key.key;
      },
      { algorithms: [JWS_ALGORITHM] },
    );
  } catch {
    throw new KeyStatementError('untrusted-signature', 'no signature of the key statement verifies with a key trusted for this peer');
  }
  let node: unknown;
  try {
    node = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(result.payload));
  } catch {
    throw new KeyStatementError('malformed', 'the key statement payload is not JSON');
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node)) throw new KeyStatementError('malformed', 'the key statement payload is not an object');
  const claims = node as Record<string, unknown>;
  if (typeof claims.nodeId !== 'string' || !NODE_ID_PATTERN.test(claims.nodeId) || claims.nodeId !== nodeId) {
    throw new KeyStatementError('wrong-node-id', 'the key statement is of another node id');
  }
  const iat = claims.iat;
  if (typeof iat !== 'number' || !Number.isInteger(iat) || iat < 0) throw new KeyStatementError('malformed', 'iat is not a NumericDate');
  const now = options.now ?? epochSeconds();
  if (iat > now + CLOCK_SKEW_SECONDS) throw new KeyStatementError('future', 'the key statement is dated in the future');
  if (options.notBefore !== undefined && iat <= options.notBefore) {
    throw new KeyStatementError('stale', 'the key statement is no newer than the last one believed');
  }
  return { node: claims, iat, signedBy: String(result.protectedHeader?.kid) };
}
