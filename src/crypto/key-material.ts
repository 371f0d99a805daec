import { createHmac, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppConfig } from '../config/app-config.js';

/** A private OKP key as a JWK (RFC 8037): Ed25519 for signing, X25519 for encryption. */
export interface OkpPrivateJwk {
  kty: 'OKP';
  crv: 'Ed25519' | 'X25519';
  x: string;
  d: string;
}

/** This node's identity towards peer nodes. */
export interface NodeKeyMaterial {
  nodeId: string;
  signingPrivateJwk: OkpPrivateJwk;
  encryptionPrivateJwk: OkpPrivateJwk;
  /** Keys of before a rotation (NODE_PREVIOUS_KEYS), each until retiredAt + NODE_KEY_GRACE_SECONDS. */
  previous?: PreviousNodeKey[];
}

export interface PreviousNodeKey {
  /** Public (or private: only `x` is used) Ed25519 key, published until notAfter. */
  signingJwk?: { kty: 'OKP'; crv: 'Ed25519'; x: string };
  /** The same key with its private half, when given so: it also signs the node's key statement (GET /v1/node). */
  signingPrivateJwk?: OkpPrivateJwk;
  /** Private X25519 key: messages peers still seal to it are opened until notAfter. */
  encryptionPrivateJwk?: OkpPrivateJwk;
  /** NumericDate (seconds). */
  notAfter: number;
}

/**
 * The secret keys the service holds in memory. Values from the environment in
 * production; outside production, generated once into a local file.
 */
export interface KeyMaterial {
  masterKeys: ReadonlyMap<string, Buffer>;
  activeMasterKeyId: string;
  blindIndexKeys: ReadonlyMap<number, Buffer>;
  activeBlindIndexVersion: number;
  node: NodeKeyMaterial;
  /**
   * AUDIT_CHAIN_KEY: the HMAC key of the audit chain's links. Always set by
   * loadKeyMaterial; key material built by hand (unit tests) may leave it out, and
   * the audit sealer then refuses to seal.
   */
  auditChainKey?: Buffer;
  /** True when the keys come from the generated development file. */
  generated: boolean;
}

export class KeyMaterialError extends Error {
  override name = 'KeyMaterialError';
}

/** Generated keys carry this prefix so that production can recognise and refuse them. */
const GENERATED_PREFIX = 'dev.';
const KEY_BYTES = 32;

function parseKeyList<K>(
  name: string,
  value: string,
  parseId: (id: string) => K,
  production: boolean,
): Map<K, Buffer> {
  const keys = new Map<K, Buffer>();
  for (const entry of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    if (colon <= 0) throw new KeyMaterialError(`${name}: each entry must be "id:base64key"`);
    const id = parseId(entry.slice(0, colon));
    let encoded = entry.slice(colon + 1);
    if (encoded.startsWith(GENERATED_PREFIX)) {
      if (production) {
        throw new KeyMaterialError(
          `${name}: refusing a generated development key in production; configure real keys`,
        );
      }
      encoded = encoded.slice(GENERATED_PREFIX.length);
    }
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== KEY_BYTES) {
      throw new KeyMaterialError(`${name}: key ${String(id)} must be ${KEY_BYTES} bytes, base64-encoded`);
    }
    if (keys.has(id)) throw new KeyMaterialError(`${name}: key id ${String(id)} appears twice`);
    keys.set(id, key);
  }
  if (keys.size === 0) throw new KeyMaterialError(`${name}: no key given`);
  return keys;
}

/** One key, base64 of 32 bytes (a generated one carries the development prefix, refused in production). */
function parseSingleKey(name: string, value: string, production: boolean): Buffer {
  let encoded = value.trim();
  if (encoded.startsWith(GENERATED_PREFIX)) {
    if (production) throw new KeyMaterialError(`${name}: refusing a generated development key in production; configure a real key`);
    encoded = encoded.slice(GENERATED_PREFIX.length);
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length !== KEY_BYTES || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new KeyMaterialError(`${name}: must be ${KEY_BYTES} bytes, base64-encoded`);
  }
  return key;
}

function parseVersion(id: string): number {
  const version = Number(id);
  if (!Number.isInteger(version) || version < 1 || version > 32767) {
    throw new KeyMaterialError('BLIND_INDEX_KEYS: versions must be integers from 1 to 32767');
  }
  return version;
}

/** PKCS#8 DER of an OKP private key, before its 32-byte seed (RFC 8410). */
const PKCS8_SEED_PREFIX = {
  Ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  X25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
} as const;

function okpPrivateJwk(crv: OkpPrivateJwk['crv'], seed: Buffer): OkpPrivateJwk {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX[crv], seed]), format: 'der', type: 'pkcs8' });
  const { x, d } = key.export({ format: 'jwk' });
  return { kty: 'OKP', crv, x: x!, d: d! };
}

/** The public `x` that belongs to a private JWK's `d` (Node's JWK import does not check they match). */
function publicXOf(jwk: OkpPrivateJwk): string {
  return createPublicKey(createPrivateKey({ key: { ...jwk }, format: 'jwk' })).export({ format: 'jwk' }).x!;
}

/** Fresh node keys (tests, and peers simulated in them). */
export function generateNodeKeyMaterial(nodeId: string): NodeKeyMaterial {
  return {
    nodeId,
    signingPrivateJwk: okpPrivateJwk('Ed25519', randomBytes(KEY_BYTES)),
    encryptionPrivateJwk: okpPrivateJwk('X25519', randomBytes(KEY_BYTES)),
  };
}

interface NodeKeySettings {
  NODE_ID: string;
  NODE_SIGNING_KEY: string;
  NODE_ENCRYPTION_KEY: string;
}

interface KeySettings extends Partial<NodeKeySettings> {
  MASTER_KEYS: string;
  BLIND_INDEX_KEYS: string;
  /** Absent from development files written before the audit chain was keyed. */
  AUDIT_CHAIN_KEY?: string;
}

/**
 * Node keys for the development file, from 32-byte seeds. Generated JWKs carry a
 * `kid` with the generated prefix so that production can recognise and refuse them.
 */
function nodeKeySettings(seed: (label: string) => Buffer): NodeKeySettings {
  const jwk = (crv: OkpPrivateJwk['crv'], label: string) =>
    JSON.stringify({ ...okpPrivateJwk(crv, seed(label)), kid: `${GENERATED_PREFIX}${label}` });
  return {
    NODE_ID: `dev-${seed('node-id').subarray(0, 4).toString('hex')}`,
    NODE_SIGNING_KEY: jwk('Ed25519', 'signing'),
    NODE_ENCRYPTION_KEY: jwk('X25519', 'encryption'),
  };
}

function generatedKeySettings(): KeySettings {
  const key = () => GENERATED_PREFIX + randomBytes(KEY_BYTES).toString('base64');
  return {
    // A unique id, so that keys generated elsewhere are never taken for these.
    MASTER_KEYS: `dev-${randomBytes(4).toString('hex')}:${key()}`,
    BLIND_INDEX_KEYS: `1:${key()}`,
    AUDIT_CHAIN_KEY: key(),
    ...nodeKeySettings(() => randomBytes(KEY_BYTES)),
  };
}

type CompleteKeySettings = KeySettings & NodeKeySettings & { AUDIT_CHAIN_KEY: string };

const isComplete = (settings: KeySettings): settings is CompleteKeySettings =>
  Boolean(settings.NODE_ID && settings.NODE_SIGNING_KEY && settings.NODE_ENCRYPTION_KEY && settings.AUDIT_CHAIN_KEY);

/**
 * A development file written before node keys (or the audit chain key) existed gains
 * them. They are derived from the file's own (generated) master key rather than drawn
 * at random, so that an API and a worker upgrading the file at the same moment write
 * identical contents and agree on one identity; the write is a rename, so no reader
 * sees half a file.
 */
function addMissingKeys(file: string, settings: KeySettings, warn: (message: string) => void): CompleteKeySettings {
  const derive = (label: string) =>
    createHmac('sha256', settings.MASTER_KEYS).update(`kouza-hub development node key: ${label}`).digest();
  const added: string[] = [];
  let upgraded: KeySettings = settings;
  if (!(settings.NODE_ID && settings.NODE_SIGNING_KEY && settings.NODE_ENCRYPTION_KEY)) {
    upgraded = { ...upgraded, ...nodeKeySettings(derive) };
    added.push('node keys');
  }
  if (!settings.AUDIT_CHAIN_KEY) {
    upgraded = { ...upgraded, AUDIT_CHAIN_KEY: GENERATED_PREFIX + derive('audit-chain').toString('base64') };
    added.push('an audit chain key');
  }
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, JSON.stringify(upgraded, null, 2), { flag: 'wx', mode: 0o600 });
  renameSync(temporary, file);
  warn(`Added generated development ${added.join(' and ')} to ${file}. Never use them in production.`);
  return upgraded as CompleteKeySettings;
}

/**
 * Outside production: reads the development key file, creating it (exclusively, so
 * that an API and a worker starting together agree on one set) when it is missing.
 */
function readOrCreateDevKeys(file: string, warn: (message: string) => void): CompleteKeySettings {
  const read = () => JSON.parse(readFileSync(file, 'utf8')) as KeySettings;
  let settings: KeySettings | undefined;
  try {
    settings = read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (!settings) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, JSON.stringify(generatedKeySettings(), null, 2), { flag: 'wx', mode: 0o600 });
      warn(`Generated development keys in ${file}. Never use them in production.`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    settings = read();
  }
  return isComplete(settings) ? settings : addMissingKeys(file, settings, warn);
}

const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;

function parseOkpPrivateJwk(name: string, value: string, crv: OkpPrivateJwk['crv'], production: boolean): OkpPrivateJwk {
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(value) as Record<string, unknown>;
  } catch {
    throw new KeyMaterialError(`${name}: must be a private JWK (JSON)`);
  }
  if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'OKP' || jwk.crv !== crv) {
    throw new KeyMaterialError(`${name}: must be a JWK with kty "OKP" and crv "${crv}"`);
  }
  const { x, d, kid } = jwk;
  if (typeof d !== 'string' || !BASE64URL_32_BYTES.test(d) || typeof x !== 'string' || !BASE64URL_32_BYTES.test(x)) {
    throw new KeyMaterialError(`${name}: "d" and "x" must be 32 bytes, base64url`);
  }
  if (production && typeof kid === 'string' && kid.startsWith(GENERATED_PREFIX)) {
    throw new KeyMaterialError(`${name}: refusing a generated development key in production; configure a real key`);
  }
  const key: OkpPrivateJwk = { kty: 'OKP', crv, x, d };
  if (publicXOf(key) !== x) throw new KeyMaterialError(`${name}: "x" is not the public half of "d"`);
  return key;
}

/**
 * NODE_PREVIOUS_KEYS: a JSON array of `{signingKey?, encryptionKey?, retiredAt}`, the keys
 * this node used before a rotation (JWKs as NODE_SIGNING_KEY / NODE_ENCRYPTION_KEY held
 * them; the signing key may be given public) and when they stopped being current. Each
 * stays usable for `graceSeconds` after retiredAt; later, it is left out.
 */
export function parsePreviousNodeKeys(value: string | undefined, graceSeconds: number, production: boolean, now = Date.now()): PreviousNodeKey[] {
  if (!value) return [];
  let entries: unknown;
  try {
    entries = JSON.parse(value);
  } catch {
    throw new KeyMaterialError('NODE_PREVIOUS_KEYS: must be a JSON array');
  }
  if (!Array.isArray(entries)) throw new KeyMaterialError('NODE_PREVIOUS_KEYS: must be a JSON array');
  const keys: PreviousNodeKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const name = `NODE_PREVIOUS_KEYS[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw new KeyMaterialError(`${name}: must be an object`);
    const { signingKey, encryptionKey, retiredAt } = entry as Record<string, unknown>;
    const retired = typeof retiredAt === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(retiredAt) ? Date.parse(retiredAt) : NaN;
    if (!Number.isFinite(retired)) throw new KeyMaterialError(`${name}: retiredAt must be an ISO 8601 date-time`);
    if (signingKey === undefined && encryptionKey === undefined) {
      throw new KeyMaterialError(`${name}: needs a signingKey or an encryptionKey`);
    }
    const key: PreviousNodeKey = { notAfter: Math.floor(retired / 1000) + graceSeconds };
    if (signingKey !== undefined) {
      const jwk = signingKey as Record<string, unknown>;
      if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || !BASE64URL_32_BYTES.test(jwk.x)) {
        throw new KeyMaterialError(`${name}.signingKey: must be an OKP Ed25519 JWK with a 32-byte x`);
      }
      key.signingJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
      // A private key endorses the rotation: peers believe the new keys on the old key's signature.
      if (jwk.d !== undefined) key.signingPrivateJwk = parseOkpPrivateJwk(`${name}.signingKey`, JSON.stringify(signingKey), 'Ed25519', production);
    }
    if (encryptionKey !== undefined) {
      key.encryptionPrivateJwk = parseOkpPrivateJwk(`${name}.encryptionKey`, JSON.stringify(encryptionKey), 'X25519', production);
    }
    // Past its grace period a key is of no use: neither published nor tried.
    if (key.notAfter * 1000 > now) keys.push(key);
  }
  return keys;
}

export function loadKeyMaterial(config: AppConfig, warn: (message: string) => void): KeyMaterial {
  const production = config.isProduction;
  const settings: Partial<KeySettings> = {
    MASTER_KEYS: config.MASTER_KEYS,
    BLIND_INDEX_KEYS: config.BLIND_INDEX_KEYS,
    NODE_ID: config.NODE_ID,
    NODE_SIGNING_KEY: config.NODE_SIGNING_KEY,
    NODE_ENCRYPTION_KEY: config.NODE_ENCRYPTION_KEY,
    AUDIT_CHAIN_KEY: config.AUDIT_CHAIN_KEY,
  };
  const missing = (Object.keys(settings) as (keyof KeySettings)[]).filter((name) => !settings[name]);
  let generated = false;
  if (missing.length > 0) {
    if (production) {
      throw new KeyMaterialError(`NODE_ENV=production requires ${missing.join(' and ')} to be set`);
    }
    const dev = readOrCreateDevKeys(config.KEYS_FILE, warn);
    for (const name of missing) settings[name] = dev[name];
    generated = true;
    warn(`Using development keys from ${config.KEYS_FILE} for what the environment does not set.`);
  }
  const { MASTER_KEYS, BLIND_INDEX_KEYS, NODE_ID, NODE_SIGNING_KEY, NODE_ENCRYPTION_KEY, AUDIT_CHAIN_KEY } = settings as CompleteKeySettings;
  const masters = parseKeyList('MASTER_KEYS', MASTER_KEYS, (id) => id, production);
  const indexes = parseKeyList('BLIND_INDEX_KEYS', BLIND_INDEX_KEYS, parseVersion, production);
  const node: NodeKeyMaterial = {
    nodeId: NODE_ID,
    signingPrivateJwk: parseOkpPrivateJwk('NODE_SIGNING_KEY', NODE_SIGNING_KEY, 'Ed25519', production),
    encryptionPrivateJwk: parseOkpPrivateJwk('NODE_ENCRYPTION_KEY', NODE_ENCRYPTION_KEY, 'X25519', production),
  };
  const previous = parsePreviousNodeKeys(config.NODE_PREVIOUS_KEYS, config.NODE_KEY_GRACE_SECONDS, production);
  if (previous.length > 0) node.previous = previous;

  const activeMasterKeyId = config.MASTER_KEY_ACTIVE_ID ?? [...masters.keys()][0];
  if (!masters.has(activeMasterKeyId)) {
    throw new KeyMaterialError('MASTER_KEY_ACTIVE_ID names no key of MASTER_KEYS');
  }
  const activeBlindIndexVersion = config.BLIND_INDEX_ACTIVE_VERSION ?? Math.max(...indexes.keys());
  if (!indexes.has(activeBlindIndexVersion)) {
    throw new KeyMaterialError('BLIND_INDEX_ACTIVE_VERSION names no key of BLIND_INDEX_KEYS');
  }
  const auditChainKey = parseSingleKey('AUDIT_CHAIN_KEY', AUDIT_CHAIN_KEY, production);
  return { masterKeys: masters, activeMasterKeyId, blindIndexKeys: indexes, activeBlindIndexVersion, node, auditChainKey, generated };
}
