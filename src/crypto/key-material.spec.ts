import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { loadConfig } from '../config/app-config.js';
import { generateNodeKeyMaterial, KeyMaterialError, loadKeyMaterial, parsePreviousNodeKeys } from './key-material.js';

const tmp = mkdtempSync(join(tmpdir(), 'kouza-hub-keys-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let fileCount = 0;
/** A key file path that does not exist yet, in a directory that does not exist either. */
const freshKeysFile = () => join(tmp, `run-${++fileCount}`, 'nested', 'dev-keys.json');

const b64 = (key: Buffer) => key.toString('base64');
const m1 = randomBytes(32);
const m2 = randomBytes(32);
const b1 = randomBytes(32);
const b2 = randomBytes(32);
const node = generateNodeKeyMaterial('node-1');
const otherNode = generateNodeKeyMaterial('node-2');
const NODE = {
  NODE_ID: node.nodeId,
  NODE_SIGNING_KEY: JSON.stringify(node.signingPrivateJwk),
  NODE_ENCRYPTION_KEY: JSON.stringify(node.encryptionPrivateJwk),
};
const chainKey = randomBytes(32);
const VALID = {
  MASTER_KEYS: `m1:${b64(m1)},m2:${b64(m2)}`,
  BLIND_INDEX_KEYS: `1:${b64(b1)},2:${b64(b2)}`,
  ...NODE,
  AUDIT_CHAIN_KEY: b64(chainKey),
};

describe('loadKeyMaterial', () => {
  let warn: jest.Mock<(message: string) => void>;
  beforeEach(() => {
    warn = jest.fn<(message: string) => void>();
  });

  const load = (env: NodeJS.ProcessEnv) => loadKeyMaterial(loadConfig(env), warn);
  const loadError = (env: NodeJS.ProcessEnv): KeyMaterialError => {
    try {
      load(env);
    } catch (error) {
      expect(error).toBeInstanceOf(KeyMaterialError);
      return error as KeyMaterialError;
    }
    throw new Error('expected loadKeyMaterial to throw');
  };

  describe('outside production, with no keys in the environment', () => {
    it('generates a key file, warns, and reads the same keys on the next call', () => {
      const KEYS_FILE = freshKeysFile();
      const first = load({ NODE_ENV: 'development', KEYS_FILE });

      expect(first.generated).toBe(true);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(KEYS_FILE));
      expect(first.masterKeys.size).toBe(1);
      expect(first.masterKeys.get(first.activeMasterKeyId)).toHaveLength(32);
      expect(first.blindIndexKeys.get(first.activeBlindIndexVersion)).toHaveLength(32);

      expect(first.node.nodeId).toMatch(/^dev-[0-9a-f]{8}$/);
      expect(first.node.signingPrivateJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
      expect(first.node.encryptionPrivateJwk).toMatchObject({ kty: 'OKP', crv: 'X25519' });

      const second = load({ NODE_ENV: 'development', KEYS_FILE });
      expect(second.node).toEqual(first.node);
      expect(second.activeMasterKeyId).toBe(first.activeMasterKeyId);
      expect(second.masterKeys).toEqual(first.masterKeys);
      expect(second.activeBlindIndexVersion).toBe(first.activeBlindIndexVersion);
      expect(second.blindIndexKeys).toEqual(first.blindIndexKeys);
      expect(first.auditChainKey).toHaveLength(32);
      expect(second.auditChainKey).toEqual(first.auditChainKey);
    });

    it('writes the key file readable by its owner only (0600)', () => {
      const KEYS_FILE = freshKeysFile();
      load({ NODE_ENV: 'test', KEYS_FILE });
      expect(statSync(KEYS_FILE).mode & 0o777).toBe(0o600);
    });

    it('marks the generated keys so that production can recognise them', () => {
      const KEYS_FILE = freshKeysFile();
      load({ NODE_ENV: 'test', KEYS_FILE });
      const file = JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as Record<string, string>;
      expect(file.MASTER_KEYS).toMatch(/^[^:,]+:dev\./);
      expect(file.BLIND_INDEX_KEYS).toMatch(/^\d+:dev\./);
      expect(JSON.parse(file.NODE_SIGNING_KEY).kid).toMatch(/^dev\./);
      expect(JSON.parse(file.NODE_ENCRYPTION_KEY).kid).toMatch(/^dev\./);
      expect(file.AUDIT_CHAIN_KEY).toMatch(/^dev\./);
    });

    it('adds an audit chain key to a file written before the chain was keyed, the same in every process', () => {
      const KEYS_FILE = freshKeysFile();
      load({ NODE_ENV: 'development', KEYS_FILE });
      const { AUDIT_CHAIN_KEY: _dropped, ...old } = JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as Record<string, string>;
      const upgrade = () => {
        writeFileSync(KEYS_FILE, JSON.stringify(old), { mode: 0o600 });
        return load({ NODE_ENV: 'development', KEYS_FILE });
      };
      const first = upgrade();
      expect(first.auditChainKey).toHaveLength(32);
      expect(upgrade().auditChainKey).toEqual(first.auditChainKey);
      expect(JSON.parse(readFileSync(KEYS_FILE, 'utf8'))).toMatchObject({ ...old, AUDIT_CHAIN_KEY: expect.stringMatching(/^dev\./) });
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('audit chain key'));
    });

    it('adds node keys to a file written before they existed, keeping its other keys', () => {
      const KEYS_FILE = freshKeysFile();
      mkdirSync(join(KEYS_FILE, '..'), { recursive: true });
      const old = { MASTER_KEYS: `dev-0a0b0c0d:dev.${b64(m1)}`, BLIND_INDEX_KEYS: `1:dev.${b64(b1)}` };
      writeFileSync(KEYS_FILE, JSON.stringify(old), { mode: 0o600 });

      const first = load({ NODE_ENV: 'development', KEYS_FILE });
      expect(first.masterKeys).toEqual(new Map([['dev-0a0b0c0d', m1]]));
      expect(first.node.nodeId).toMatch(/^dev-[0-9a-f]{8}$/);
      const file = JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as Record<string, string>;
      expect(file).toMatchObject({ ...old, NODE_ID: first.node.nodeId });
      expect(statSync(KEYS_FILE).mode & 0o777).toBe(0o600);
      // Renamed into place: no temporary file is left beside it.
      expect(readdirSync(join(KEYS_FILE, '..'))).toEqual(['dev-keys.json']);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('node keys'));

      expect(load({ NODE_ENV: 'development', KEYS_FILE }).node).toEqual(first.node);
    });

    it('gives two processes upgrading the same old file the same node identity', () => {
      const old = JSON.stringify({ MASTER_KEYS: `dev-0a0b0c0d:dev.${b64(m2)}`, BLIND_INDEX_KEYS: `1:dev.${b64(b2)}` });
      const upgrade = () => {
        const KEYS_FILE = freshKeysFile();
        mkdirSync(join(KEYS_FILE, '..'), { recursive: true });
        writeFileSync(KEYS_FILE, old);
        return load({ NODE_ENV: 'development', KEYS_FILE }).node;
      };
      // Each "process" upgrades its own copy of the file, as if neither saw the other's write.
      expect(upgrade()).toEqual(upgrade());
    });

    it('takes from the file only what the environment does not set', () => {
      const KEYS_FILE = freshKeysFile();
      const sut = load({ NODE_ENV: 'development', KEYS_FILE, NODE_ID: 'node-from-env' });
      expect(sut.node.nodeId).toBe('node-from-env');
      expect(sut.node.signingPrivateJwk.crv).toBe('Ed25519');
      expect(sut.generated).toBe(true);
    });

    it('generates different keys for different files', () => {
      const a = load({ NODE_ENV: 'test', KEYS_FILE: freshKeysFile() });
      const b = load({ NODE_ENV: 'test', KEYS_FILE: freshKeysFile() });
      expect(a.masterKeys.get(a.activeMasterKeyId)).not.toEqual(b.masterKeys.get(b.activeMasterKeyId));
    });
  });

  it('uses the keys of the environment as given, without a file or a warning', () => {
    const KEYS_FILE = freshKeysFile();
    const sut = load({ NODE_ENV: 'development', KEYS_FILE, ...VALID });
    expect(sut.generated).toBe(false);
    expect(sut.masterKeys).toEqual(new Map([['m1', m1], ['m2', m2]]));
    expect(sut.blindIndexKeys).toEqual(new Map([[1, b1], [2, b2]]));
    expect(sut.node).toEqual(node);
    expect(sut.auditChainKey).toEqual(chainKey);
    expect(warn).not.toHaveBeenCalled();
    expect(() => statSync(KEYS_FILE)).toThrow();
  });

  describe('in production', () => {
    it.each([
      [{}, ['MASTER_KEYS', 'BLIND_INDEX_KEYS', 'NODE_ID', 'NODE_SIGNING_KEY', 'NODE_ENCRYPTION_KEY', 'AUDIT_CHAIN_KEY']],
      [{ ...VALID, AUDIT_CHAIN_KEY: undefined }, ['AUDIT_CHAIN_KEY']],
      [{ ...NODE, BLIND_INDEX_KEYS: VALID.BLIND_INDEX_KEYS }, ['MASTER_KEYS']],
      [{ ...NODE, MASTER_KEYS: VALID.MASTER_KEYS }, ['BLIND_INDEX_KEYS']],
      [{ ...VALID, NODE_ID: '' }, ['NODE_ID']],
      [{ ...VALID, NODE_SIGNING_KEY: undefined, NODE_ENCRYPTION_KEY: undefined }, ['NODE_SIGNING_KEY', 'NODE_ENCRYPTION_KEY']],
    ])('without keys %j it refuses to start, naming what is missing', (keys, missing) => {
      const KEYS_FILE = freshKeysFile();
      const error = loadError({ NODE_ENV: 'production', KEYS_FILE, ...keys });
      for (const name of missing) expect(error.message).toContain(name);
      expect(() => statSync(KEYS_FILE)).toThrow(); // nothing generated
    });

    it('refuses keys copied from the generated development file', () => {
      const KEYS_FILE = freshKeysFile();
      load({ NODE_ENV: 'development', KEYS_FILE });
      const dev = JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as Record<string, string>;

      for (const name of ['MASTER_KEYS', 'BLIND_INDEX_KEYS', 'NODE_SIGNING_KEY', 'NODE_ENCRYPTION_KEY', 'AUDIT_CHAIN_KEY']) {
        const error = loadError({ NODE_ENV: 'production', ...VALID, [name]: dev[name] });
        expect(error.message).toMatch(new RegExp(`${name}.*generated`));
      }
    });

    it('accepts real keys', () => {
      const sut = load({ NODE_ENV: 'production', ...VALID });
      expect(sut.generated).toBe(false);
      expect(sut.masterKeys.size).toBe(2);
      expect(sut.node).toEqual(node);
    });
  });

  describe('refuses malformed node keys with a message naming the variable', () => {
    const jwk = node.signingPrivateJwk;
    it.each([
      ['not JSON', { NODE_SIGNING_KEY: 'ed25519:abc' }, /NODE_SIGNING_KEY.*JWK/],
      ['the curves swapped', { NODE_SIGNING_KEY: NODE.NODE_ENCRYPTION_KEY }, /NODE_SIGNING_KEY.*Ed25519/],
      ['an EC key', { NODE_SIGNING_KEY: JSON.stringify({ ...jwk, kty: 'EC' }) }, /NODE_SIGNING_KEY.*OKP/],
      ['a public key', { NODE_ENCRYPTION_KEY: JSON.stringify({ ...node.encryptionPrivateJwk, d: undefined }) }, /NODE_ENCRYPTION_KEY.*32 bytes/],
      ['a short d', { NODE_SIGNING_KEY: JSON.stringify({ ...jwk, d: jwk.d.slice(0, 20) }) }, /NODE_SIGNING_KEY.*32 bytes/],
      ['an x of another key', { NODE_SIGNING_KEY: JSON.stringify({ ...jwk, x: otherNode.signingPrivateJwk.x }) }, /NODE_SIGNING_KEY.*public half/],
    ])('%s', (_case, override, message) => {
      const error = loadError({ NODE_ENV: 'production', ...VALID, ...override });
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(jwk.d);
      expect(error.message).not.toContain(node.encryptionPrivateJwk.d);
    });

    it('refuses a NODE_ID that is not a node id', () => {
      expect(() => load({ NODE_ENV: 'production', ...VALID, NODE_ID: 'node one' })).toThrow(/NODE_ID/);
    });
  });

  describe('refuses malformed key lists with a message naming the variable', () => {
    const short = b64(randomBytes(16));
    it.each([
      ['MASTER_KEYS', 'an entry without a colon', { MASTER_KEYS: b64(m1) }, /MASTER_KEYS.*id:base64key/],
      ['MASTER_KEYS', 'an entry with an empty id', { MASTER_KEYS: `:${b64(m1)}` }, /MASTER_KEYS.*id:base64key/],
      ['MASTER_KEYS', 'a 16-byte key', { MASTER_KEYS: `m1:${short}` }, /MASTER_KEYS.*m1.*32 bytes/],
      ['MASTER_KEYS', 'a 33-byte key', { MASTER_KEYS: `m1:${b64(randomBytes(33))}` }, /MASTER_KEYS.*32 bytes/],
      ['MASTER_KEYS', 'a duplicate id', { MASTER_KEYS: `m1:${b64(m1)},m1:${b64(m2)}` }, /MASTER_KEYS.*m1.*twice/],
      ['MASTER_KEYS', 'only separators', { MASTER_KEYS: ' , ,' }, /MASTER_KEYS.*no key/],
      ['BLIND_INDEX_KEYS', 'an entry without a colon', { BLIND_INDEX_KEYS: b64(b1) }, /BLIND_INDEX_KEYS.*id:base64key/],
      ['BLIND_INDEX_KEYS', 'a short key', { BLIND_INDEX_KEYS: `1:${short}` }, /BLIND_INDEX_KEYS.*32 bytes/],
      ['BLIND_INDEX_KEYS', 'a duplicate version', { BLIND_INDEX_KEYS: `1:${b64(b1)},1:${b64(b2)}` }, /BLIND_INDEX_KEYS.*1.*twice/],
      ['BLIND_INDEX_KEYS', 'version 0', { BLIND_INDEX_KEYS: `0:${b64(b1)}` }, /BLIND_INDEX_KEYS.*versions/],
      ['BLIND_INDEX_KEYS', 'version 32768', { BLIND_INDEX_KEYS: `32768:${b64(b1)}` }, /BLIND_INDEX_KEYS.*versions/],
      ['BLIND_INDEX_KEYS', 'a negative version', { BLIND_INDEX_KEYS: `-1:${b64(b1)}` }, /BLIND_INDEX_KEYS.*versions/],
      ['BLIND_INDEX_KEYS', 'a fractional version', { BLIND_INDEX_KEYS: `1.5:${b64(b1)}` }, /BLIND_INDEX_KEYS.*versions/],
      ['BLIND_INDEX_KEYS', 'a non-numeric version', { BLIND_INDEX_KEYS: `v1:${b64(b1)}` }, /BLIND_INDEX_KEYS.*versions/],
      ['AUDIT_CHAIN_KEY', 'a short key', { AUDIT_CHAIN_KEY: short }, /AUDIT_CHAIN_KEY.*32 bytes/],
      ['AUDIT_CHAIN_KEY', 'not base64', { AUDIT_CHAIN_KEY: `${b64(chainKey).slice(0, -2)}!!` }, /AUDIT_CHAIN_KEY.*32 bytes/],
    ])('%s: %s', (_name, _case, override, message) => {
      const error = loadError({ NODE_ENV: 'production', ...VALID, ...override });
      expect(error.message).toMatch(message);
    });

    it('never puts the key itself in the message', () => {
      const secret = b64(randomBytes(31));
      expect(loadError({ NODE_ENV: 'production', ...VALID, MASTER_KEYS: `m1:${secret}` }).message).not.toContain(secret);
    });
  });

  describe('active key selection', () => {
    it('defaults to the first master key listed and the highest blind-index version', () => {
      const sut = load({
        NODE_ENV: 'production',
        ...NODE,
        AUDIT_CHAIN_KEY: VALID.AUDIT_CHAIN_KEY,
        MASTER_KEYS: `m2:${b64(m2)},m1:${b64(m1)}`,
        BLIND_INDEX_KEYS: `2:${b64(b2)},7:${b64(b1)},3:${b64(b1)}`,
      });
      expect(sut.activeMasterKeyId).toBe('m2');
      expect(sut.activeBlindIndexVersion).toBe(7);
    });

    it('follows MASTER_KEY_ACTIVE_ID and BLIND_INDEX_ACTIVE_VERSION', () => {
      const sut = load({ NODE_ENV: 'production', ...VALID, MASTER_KEY_ACTIVE_ID: 'm2', BLIND_INDEX_ACTIVE_VERSION: '1' });
      expect(sut.activeMasterKeyId).toBe('m2');
      expect(sut.activeBlindIndexVersion).toBe(1);
    });

    it('refuses a MASTER_KEY_ACTIVE_ID naming no key', () => {
      expect(loadError({ NODE_ENV: 'production', ...VALID, MASTER_KEY_ACTIVE_ID: 'm9' }).message).toMatch(/MASTER_KEY_ACTIVE_ID/);
    });

    it('refuses a BLIND_INDEX_ACTIVE_VERSION naming no key', () => {
      expect(loadError({ NODE_ENV: 'production', ...VALID, BLIND_INDEX_ACTIVE_VERSION: '3' }).message).toMatch(
        /BLIND_INDEX_ACTIVE_VERSION/,
      );
    });
  });
});

describe('parsePreviousNodeKeys (NODE_PREVIOUS_KEYS)', () => {
  const old = generateNodeKeyMaterial('node-1');
  const retiredAt = '2026-11-01T00:00:00Z';
  const retired = Date.parse(retiredAt);
  const { d: _d, ...publicSigning } = old.signingPrivateJwk;

  it('keeps each key until retiredAt + the grace period; a private signing key also privately (it signs the key statement)', () => {
    const value = JSON.stringify([{ signingKey: old.signingPrivateJwk, encryptionKey: old.encryptionPrivateJwk, retiredAt }]);
    const [key] = parsePreviousNodeKeys(value, 3600, false, retired + 1000);
    expect(key).toEqual({
      signingJwk: { kty: 'OKP', crv: 'Ed25519', x: old.signingPrivateJwk.x },
      signingPrivateJwk: old.signingPrivateJwk,
      encryptionPrivateJwk: old.encryptionPrivateJwk,
      notAfter: retired / 1000 + 3600,
    });
    expect(parsePreviousNodeKeys(JSON.stringify([{ signingKey: publicSigning, retiredAt }]), 3600, false, retired)).toEqual([
      { signingJwk: { kty: 'OKP', crv: 'Ed25519', x: old.signingPrivateJwk.x }, notAfter: retired / 1000 + 3600 },
    ]);
    // A "d" that is not the private half of "x" is refused.
    const other = generateNodeKeyMaterial('node-2').signingPrivateJwk;
    expect(() => parsePreviousNodeKeys(JSON.stringify([{ signingKey: { ...old.signingPrivateJwk, d: other.d }, retiredAt }]), 3600, false, retired)).toThrow(
      /public half/,
    );
    // Past the grace period: of no use any more.
    expect(parsePreviousNodeKeys(value, 3600, false, retired + 3600_000)).toEqual([]);
    expect(parsePreviousNodeKeys(undefined, 3600, false)).toEqual([]);
  });

  it.each([
    ['not JSON', '{', /JSON array/],
    ['not an array', '{}', /JSON array/],
    ['no retiredAt', JSON.stringify([{ signingKey: publicSigning }]), /retiredAt/],
    ['no key', JSON.stringify([{ retiredAt }]), /signingKey or an encryptionKey/],
    ['a signing key of the wrong curve', JSON.stringify([{ signingKey: { ...publicSigning, crv: 'X25519' }, retiredAt }]), /Ed25519/],
    ['a public encryption key', JSON.stringify([{ encryptionKey: { ...old.encryptionPrivateJwk, d: undefined }, retiredAt }]), /encryptionKey/],
  ])('refuses %s', (_, value, message) => {
    expect(() => parsePreviousNodeKeys(value, 3600, false, retired)).toThrow(message);
  });
});
