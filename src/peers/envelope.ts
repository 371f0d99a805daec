import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { JWK } from 'jose';
import {
  CompactJoseError,
  decryptParsedJwe,
  encryptCompact,
  parseCompactJwe,
  signCompact,
  parseCompactJws,
  verifyParsedJws,
  type ParsedJws,
} from './compact-jose.js';

/**
 * The node-to-node envelope (DESIGN.md, "POST /v1/peer/location-queries"): a compact
 * JWS (EdDSA, Ed25519, kid = sender nodeId) of the claims, nested in a compact JWE
 * (ECDH-ES+A256KW, A256GCM) to the recipient's X25519 key. Pure functions: what
 * peers are registered, and whether a jti was seen before, is the caller's business.
 *
 * Key rotation: a node may hold previous keys next to its current ones. Keys are named
 * by their RFC 7638 thumbprint: the JWS protected header carries `skid` (the signing
 * key's thumbprint; `kid` stays the sender's node id, as nodes without rotation expect),
 * the JWE protected header `kid` (the recipient encryption key's thumbprint). A receiver
 * decrypts with the key the JWE kid names (any key it holds when there is none), and
 * verifies against the sender's current signing key or a previous one before its
 * `notAfter`; a signature by a previous key past its `notAfter` is refused.
 *
 * The sender: the JWE protected header carries `iss` (the sender's node id, as RFC 7519
 * §5.3 lets a JWE replicate a claim in its header), read before anything is decrypted:
 * a message whose header names no registered sender is refused without spending a
 * decryption on it, and one whose JWS `kid` (the signer) is not that sender is refused.
 *
 * The JOSE work itself is ./compact-jose.ts on node:crypto (why: its header comment);
 * keys are node KeyObjects made once per key (per identity, per registered peer and
 * rotation), so that a message costs its ephemeral key pair and the one-shot calls.
 */

export type PeerMessageType =
  | 'location-query'
  | 'location-answer'
  | 'numbering-notice'
  | 'numbering-result'
  // The audit witness protocol (src/audit/audit-checkpoints.service.ts).
  | 'audit-checkpoint-notice'
  | 'audit-checkpoint-query'
  | 'audit-checkpoint-answer';

/** This node: its id and private keys, with the public halves it publishes. */
export interface NodeIdentity {
  nodeId: string;
  signingPrivateKey: KeyObject;
  encryptionPrivateKey: KeyObject;
  /** Public `{kty: 'OKP', crv: 'Ed25519', x}`. */
  signingJwk: JWK;
  /** Public `{kty: 'OKP', crv: 'X25519', x}`. */
  encryptionJwk: JWK;
  /** RFC 7638 thumbprints of the current keys. */
  signingKid: string;
  encryptionKid: string;
  /** Keys of before a rotation, kept until their notAfter: signing ones published, encryption ones to decrypt. */
  previous: PreviousIdentityKey[];
}

export interface PreviousIdentityKey {
  /** Public half of a previous signing key, published at GET /v1/node until notAfter. */
  signingJwk?: JWK;
  signingKid?: string;
  /** Its private half, when configured: the node's key statement is signed with it too, so that peers believe the rotation. */
  signingPrivateKey?: KeyObject;
  /** A previous encryption key: messages sealed to it are still opened until notAfter. */
  encryptionPrivateKey?: KeyObject;
  encryptionKid?: string;
  /** NumericDate (seconds). */
  notAfter: number;
}

/** A previous signing key of a peer, valid until notAfter (NumericDate seconds). */
export interface PreviousPeerSigningKey {
  kid: string;
  key: KeyObject;
  notAfter: number;
}

/** A remote node: its public keys. */
export interface PeerKeys {
  nodeId: string;
  signingKey: KeyObject;
  encryptionKey: KeyObject;
  /** RFC 7638 thumbprints (absent in keys built by hand, e.g. in tests). */
  signingKid?: string;
  encryptionKid?: string;
  previousSigningKeys?: PreviousPeerSigningKey[];
}

export const JWS_ALGORITHM = 'EdDSA';
export const JWE_KEY_MANAGEMENT = 'ECDH-ES+A256KW';
export const JWE_CONTENT_ENCRYPTION = 'A256GCM';
export const SIGNING_CURVE = 'Ed25519';
export const ENCRYPTION_CURVE = 'X25519';

/** Node ids travel as `kid`, `iss` and `aud`, and name peers in URLs and logs. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Clocks of two nodes may disagree by this much. */
export const CLOCK_SKEW_SECONDS = 30;
/** A message living longer than this is refused: it bounds how long a jti must be remembered. */
export const MAX_MESSAGE_LIFETIME_SECONDS = 600;

export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
  constructor(
    readonly reason: string,
    message?: string,
  ) {
    super(message ?? reason);
  }
}

const OKP_X_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function assertOkpJwk(jwk: unknown, crv: string, privateKey: boolean, what: string): asserts jwk is JWK {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw new TypeError(`${what}: must be a JWK object`);
  }
  const key = jwk as Record<string, unknown>;
  if (key.kty !== 'OKP' || key.crv !== crv) throw new TypeError(`${what}: must be an OKP ${crv} key`);
  if (!isBase64UrlOfLength(key.x, OKP_X_BYTES)) throw new TypeError(`${what}: x must be ${OKP_X_BYTES} bytes, base64url`);
  if (privateKey) {
    if (!isBase64UrlOfLength(key.d, OKP_X_BYTES)) throw new TypeError(`${what}: d must be ${OKP_X_BYTES} bytes, base64url`);
  } else if ('d' in key) {
    throw new TypeError(`${what}: must be a public key (no "d")`);
  }
}

function isBase64UrlOfLength(value: unknown, bytes: number): boolean {
  return typeof value === 'string' && BASE64URL.test(value) && Buffer.from(value, 'base64url').length === bytes;
}

/** Checks a public key as sent by an operator or a peer: OKP, the right curve, 32-byte x, no `d`. */
export function isPublicOkpJwk(jwk: unknown, crv: typeof SIGNING_CURVE | typeof ENCRYPTION_CURVE): jwk is JWK {
  try {
    assertOkpJwk(jwk, crv, false, 'key');
    return true;
  } catch {
    return false;
  }
}

/** Only the members that define the public key, whatever else the JWK carried. */
function publicJwk(jwk: JWK): JWK {
  return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
}

/**
 * A KeyObject of only kty/crv/x(/d): an `alg`, `use` or `key_ops` from elsewhere must not
 * restrict our use. The algorithm is fixed by the curve (Ed25519 signs, X25519 agrees).
 */
function importOkp(jwk: JWK): KeyObject {
  const key = { kty: 'OKP', crv: jwk.crv!, x: jwk.x! };
  return jwk.d === undefined
    ? createPublicKey({ key, format: 'jwk' })
    : createPrivateKey({ key: { ...key, d: jwk.d }, format: 'jwk' });
}

/** The RFC 7638 thumbprint of an OKP key (public members only), the key's id in the protocol. */
export function okpThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(publicJwk(jwk), 'sha256');
}

/** A previous key of this node, as configured (NODE_PREVIOUS_KEYS). */
export interface PreviousNodeKeyInput {
  /** Private or public: the public half is published; a private one also signs the key statement. */
  signingJwk?: JWK;
  /** Private: to open messages peers still seal to it. */
  encryptionPrivateJwk?: JWK;
  notAfter: number;
}

export async function createNodeIdentity(
  nodeId: string,
  signingPrivateJwk: JWK,
  encryptionPrivateJwk: JWK,
  previous: PreviousNodeKeyInput[] = [],
): Promise<NodeIdentity> {
  if (!NODE_ID_PATTERN.test(nodeId)) throw new TypeError('nodeId: must be 1-64 of A-Z a-z 0-9 . _ -');
  assertOkpJwk(signingPrivateJwk, SIGNING_CURVE, true, 'signing key');
  assertOkpJwk(encryptionPrivateJwk, ENCRYPTION_CURVE, true, 'encryption key');
  const previousKeys: PreviousIdentityKey[] = [];
  for (const [i, p] of previous.entries()) {
    const entry: PreviousIdentityKey = { notAfter: p.notAfter };
    if (p.signingJwk) {
      assertOkpJwk(publicJwk(p.signingJwk), SIGNING_CURVE, false, `previous key ${i}: signing key`);
      entry.signingJwk = publicJwk(p.signingJwk);
      entry.signingKid = await okpThumbprint(p.signingJwk);
      if (p.signingJwk.d !== undefined) {
        assertOkpJwk(p.signingJwk, SIGNING_CURVE, true, `previous key ${i}: signing key`);
        entry.signingPrivateKey = importOkp(p.signingJwk);
      }
    }
    if (p.encryptionPrivateJwk) {
      assertOkpJwk(p.encryptionPrivateJwk, ENCRYPTION_CURVE, true, `previous key ${i}: encryption key`);
      entry.encryptionPrivateKey = importOkp(p.encryptionPrivateJwk);
      entry.encryptionKid = await okpThumbprint(p.encryptionPrivateJwk);
    }
    previousKeys.push(entry);
  }
  return {
    nodeId,
    signingPrivateKey: importOkp(signingPrivateJwk),
    encryptionPrivateKey: importOkp(encryptionPrivateJwk),
    signingJwk: publicJwk(signingPrivateJwk),
    encryptionJwk: publicJwk(encryptionPrivateJwk),
    signingKid: await okpThumbprint(signingPrivateJwk),
    encryptionKid: await okpThumbprint(encryptionPrivateJwk),
    previous: previousKeys,
  };
}

export async function generateNodeIdentity(
  nodeId: string,
): Promise<{ identity: NodeIdentity; signingPrivateJwk: JWK; encryptionPrivateJwk: JWK }> {
  const signingPrivateJwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as JWK;
  const encryptionPrivateJwk = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' }) as JWK;
  return {
    identity: await createNodeIdentity(nodeId, signingPrivateJwk, encryptionPrivateJwk),
    signingPrivateJwk,
    encryptionPrivateJwk,
  };
}

/**
 * Imports a peer's published public keys; refuses anything but OKP Ed25519 / X25519 public JWKs.
 * `previousSigning`: signing keys the peer rotated away from, each valid until its notAfter.
 */
export async function importPeerKeys(
  nodeId: string,
  signingJwk: JWK,
  encryptionJwk: JWK,
  previousSigning: { jwk: JWK; notAfter: number }[] = [],
): Promise<PeerKeys> {
  if (!NODE_ID_PATTERN.test(nodeId)) throw new TypeError('nodeId: must be 1-64 of A-Z a-z 0-9 . _ -');
  assertOkpJwk(signingJwk, SIGNING_CURVE, false, 'signing key');
  assertOkpJwk(encryptionJwk, ENCRYPTION_CURVE, false, 'encryption key');
  const previousSigningKeys: PreviousPeerSigningKey[] = [];
  for (const { jwk, notAfter } of previousSigning) {
    assertOkpJwk(jwk, SIGNING_CURVE, false, 'previous signing key');
    previousSigningKeys.push({ kid: await okpThumbprint(jwk), key: importOkp(jwk), notAfter });
  }
  return {
    nodeId,
    signingKey: importOkp(signingJwk),
    encryptionKey: importOkp(encryptionJwk),
    signingKid: await okpThumbprint(signingJwk),
    encryptionKid: await okpThumbprint(encryptionJwk),
    previousSigningKeys,
  };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** JWS (EdDSA, kid = sender nodeId) of the claims, inside a JWE (ECDH-ES+A256KW, A256GCM) to the recipient. */
export async function sealEnvelope(
  claims: Record<string, unknown>,
  sender: NodeIdentity,
  recipient: PeerKeys,
): Promise<string> {
  return sealEnvelopeJson(JSON.stringify(claims), sender, recipient);
}

/** sealEnvelope of claims already serialised (the JSON of an object), for a caller that reuses parts of it. */
export async function sealEnvelopeJson(claimsJson: string, sender: NodeIdentity, recipient: PeerKeys): Promise<string> {
  const jws = signCompact(
    Buffer.from(claimsJson),
    { kid: sender.nodeId, ...(sender.signingKid ? { skid: sender.signingKid } : {}) },
    sender.signingPrivateKey,
  );
  return encryptCompact(
    Buffer.from(jws, 'latin1'), // a compact JWS is ASCII
    {
      // The sender, in the clear but integrity-protected (the header is the AES-GCM AAD).
      iss: sender.nodeId,
      ...(recipient.encryptionKid ? { kid: recipient.encryptionKid } : {}),
    },
    recipient.encryptionKey,
  );
}

/** A CompactJoseError as the envelope's refusal of the same reason. */
function envelopeErrorOf(error: unknown, fallback: 'undecryptable' | 'bad-signature'): EnvelopeError {
  if (error instanceof CompactJoseError) return new EnvelopeError(error.reason, error.message);
  return new EnvelopeError(fallback, error instanceof Error ? error.message : String(error));
}

/**
 * Checks the JWE's form (algorithms, epk, part sizes: no key used), reads the sender from
 * its protected header (`iss`) and resolves its keys, then decrypts with our key, checks
 * that the inner JWS kid is that sender, verifies the signature. Throws
 * EnvelopeError(reason) with reason 'malformed' | 'unknown-sender' | 'undecryptable' |
 * 'sender-mismatch' | 'expired-key' | 'bad-signature'.
 */
export async function openEnvelope(
  jwe: string,
  recipient: NodeIdentity,
  resolveSender: (nodeId: string) => Promise<PeerKeys | undefined>,
): Promise<{ claims: Record<string, unknown>; sender: PeerKeys }> {
  if (typeof jwe !== 'string') throw new EnvelopeError('malformed', 'not a compact JWE');
  // Five base64url parts, each checked once, in parseCompactJwe (no other pass over the message).
  let parsed: ReturnType<typeof parseCompactJwe>;
  try {
    parsed = parseCompactJwe(jwe);
  } catch (error) {
    throw envelopeErrorOf(error, 'undecryptable');
  }
  // Who the sender says it is, before any decryption: an unknown sender costs one look-up.
  const headerSender = parsed.header.iss;
  if (typeof headerSender !== 'string' || !NODE_ID_PATTERN.test(headerSender)) {
    throw new EnvelopeError('malformed', 'the JWE protected header names no sender (iss)');
  }
  const sender = await resolveSender(headerSender);
  if (!sender || sender.nodeId !== headerSender) {
    throw new EnvelopeError('unknown-sender', 'the JWE iss names no registered peer');
  }
  const now = epochSeconds();
  let jws: string | undefined;
  let lastError: unknown;
  for (const key of decryptionKeys(parsed.header.kid, recipient, now)) {
    try {
      jws = decoder.decode(decryptParsedJwe(parsed, key));
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (jws === undefined) throw envelopeErrorOf(lastError, 'undecryptable');

  // Parsed once: the kid and skid choose the keys the same parts are then verified with.
  let signed: ParsedJws;
  try {
    // alg EdDSA (JWS_ALGORITHM) and nothing else, checked by the parser.
    signed = parseCompactJws(jws);
  } catch {
    throw new EnvelopeError('malformed', 'the plaintext is not an EdDSA compact JWS');
  }
  const { kid, skid } = signed.header;
  if (typeof kid !== 'string' || !NODE_ID_PATTERN.test(kid)) {
    throw new EnvelopeError('malformed', 'the JWS kid is not a node id');
  }

  if (kid !== headerSender) throw new EnvelopeError('sender-mismatch', 'the JWS kid (signer) is not the JWE iss (sender)');

  const previous = sender.previousSigningKeys ?? [];
  if (typeof skid === 'string' && skid !== sender.signingKid) {
    const named = previous.find((p) => p.kid === skid);
    // A key the sender rotated away from, past its grace period: refused even if the signature holds.
    if (named && named.notAfter <= now) throw new EnvelopeError('expired-key', 'the JWS skid names a signing key past its notAfter');
  }
  const candidates = [sender.signingKey, ...previous.filter((p) => p.notAfter > now).map((p) => p.key)];
  try {
    verifyParsedJws(signed, candidates);
  } catch (error) {
    throw envelopeErrorOf(error, 'bad-signature');
  }
  const payload = signed.payload;

  let claims: unknown;
  try {
    claims = JSON.parse(decoder.decode(payload));
  } catch {
    throw new EnvelopeError('malformed', 'the JWS payload is not JSON');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new EnvelopeError('malformed', 'the JWS payload is not a JSON object');
  }
  return { claims: claims as Record<string, unknown>, sender };
}

/**
 * The keys to try on a JWE: the one its protected `kid` names among those held (the
 * current key, previous ones before their notAfter), or, without a kid or with one not
 * held (a sender that predates rotation, or a hand-made message), each of them.
 */
function decryptionKeys(kid: unknown, recipient: NodeIdentity, now: number): KeyObject[] {
  const held = [
    { kid: recipient.encryptionKid, key: recipient.encryptionPrivateKey },
    ...(recipient.previous ?? [])
      .filter((p) => p.encryptionPrivateKey && p.notAfter > now)
      .map((p) => ({ kid: p.encryptionKid, key: p.encryptionPrivateKey! })),
  ];
  const named = held.find((h) => h.kid !== undefined && h.kid === kid);
  return named ? [named.key] : held.map((h) => h.key);
}

const isNumericDate = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** Now as a NumericDate (seconds). */
export const epochSeconds = (date = Date.now()) => Math.floor(date / 1000);

/**
 * Checks typ, aud === our nodeId, iss === sender.nodeId, iat/exp NumericDate seconds, exp in the
 * future (small clock skew allowed), lifetime not absurdly long.
 * Throws EnvelopeError('wrong-type'|'wrong-audience'|'wrong-issuer'|'expired'|'malformed').
 */
export function checkClaims(
  claims: Record<string, unknown>,
  expected: { typ: PeerMessageType; audience: string; issuer: string; now?: number },
): void {
  if (claims.typ !== expected.typ) throw new EnvelopeError('wrong-type', `typ is not ${expected.typ}`);
  if (claims.aud !== expected.audience) throw new EnvelopeError('wrong-audience', 'aud is not this node');
  if (claims.iss !== expected.issuer) throw new EnvelopeError('wrong-issuer', 'iss is not the signer');
  const { iat, exp } = claims;
  if (!isNumericDate(iat) || !isNumericDate(exp)) throw new EnvelopeError('malformed', 'iat and exp must be NumericDates');
  const now = expected.now ?? epochSeconds();
  if (exp <= now - CLOCK_SKEW_SECONDS) throw new EnvelopeError('expired', 'exp has passed');
  if (iat > now + CLOCK_SKEW_SECONDS) throw new EnvelopeError('malformed', 'iat is in the future');
  if (exp < iat || exp - iat > MAX_MESSAGE_LIFETIME_SECONDS) {
    throw new EnvelopeError('malformed', `the lifetime (exp - iat) must be 0 to ${MAX_MESSAGE_LIFETIME_SECONDS} seconds`);
  }
}
