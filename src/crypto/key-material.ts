import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppConfig } from '../config/app-config.js';

/**
 * The secret keys the service holds in memory. Values from the environment in
 * production; outside production, generated once into a local file.
 */
export interface KeyMaterial {
  masterKeys: ReadonlyMap<string, Buffer>;
  activeMasterKeyId: string;
  blindIndexKeys: ReadonlyMap<number, Buffer>;
  activeBlindIndexVersion: number;
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

function parseVersion(id: string): number {
  const version = Number(id);
  if (!Number.isInteger(version) || version < 1 || version > 32767) {
    throw new KeyMaterialError('BLIND_INDEX_KEYS: versions must be integers from 1 to 32767');
  }
  return version;
}

interface KeySettings {
  MASTER_KEYS: string;
  BLIND_INDEX_KEYS: string;
}

function generatedKeySettings(): KeySettings {
  const key = () => GENERATED_PREFIX + randomBytes(KEY_BYTES).toString('base64');
  // A unique id, so that keys generated elsewhere are never taken for these.
  return { MASTER_KEYS: `dev-${randomBytes(4).toString('hex')}:${key()}`, BLIND_INDEX_KEYS: `1:${key()}` };
}

/**
 * Outside production: reads the development key file, creating it (exclusively, so
 * that an API and a worker starting together agree on one set) when it is missing.
 */
function readOrCreateDevKeys(file: string, warn: (message: string) => void): KeySettings {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as KeySettings;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, JSON.stringify(generatedKeySettings(), null, 2), { flag: 'wx', mode: 0o600 });
    warn(`Generated development keys in ${file}. Never use them in production.`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return JSON.parse(readFileSync(file, 'utf8')) as KeySettings;
}

export function loadKeyMaterial(config: AppConfig, warn: (message: string) => void): KeyMaterial {
  const production = config.isProduction;
  let masterKeys = config.MASTER_KEYS;
  let blindIndexKeys = config.BLIND_INDEX_KEYS;
  let generated = false;
  if (!masterKeys || !blindIndexKeys) {
    if (production) {
      const missing = [!masterKeys && 'MASTER_KEYS', !blindIndexKeys && 'BLIND_INDEX_KEYS'].filter(Boolean);
      throw new KeyMaterialError(`NODE_ENV=production requires ${missing.join(' and ')} to be set`);
    }
    const dev = readOrCreateDevKeys(config.KEYS_FILE, warn);
    masterKeys ??= dev.MASTER_KEYS;
    blindIndexKeys ??= dev.BLIND_INDEX_KEYS;
    generated = true;
    warn(`Using development keys from ${config.KEYS_FILE} for what the environment does not set.`);
  }
  const masters = parseKeyList('MASTER_KEYS', masterKeys, (id) => id, production);
  const indexes = parseKeyList('BLIND_INDEX_KEYS', blindIndexKeys, parseVersion, production);

  const activeMasterKeyId = config.MASTER_KEY_ACTIVE_ID ?? [...masters.keys()][0];
  if (!masters.has(activeMasterKeyId)) {
    throw new KeyMaterialError('MASTER_KEY_ACTIVE_ID names no key of MASTER_KEYS');
  }
  const activeBlindIndexVersion = config.BLIND_INDEX_ACTIVE_VERSION ?? Math.max(...indexes.keys());
  if (!indexes.has(activeBlindIndexVersion)) {
    throw new KeyMaterialError('BLIND_INDEX_ACTIVE_VERSION names no key of BLIND_INDEX_KEYS');
  }
  return { masterKeys: masters, activeMasterKeyId, blindIndexKeys: indexes, activeBlindIndexVersion, generated };
}
