import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { ACCOUNT_TYPES, type AccountRef } from '../linkages/linkage.types.js';

/**
 * Everything the simulator makes up derives from one seed, so that a run can be
 * repeated and a test or the benchmark can compute the answer an undisturbed run gives.
 */
export type Seed = string | number;

const HIT_BYTES = 6;
const HIT_SCALE = 2 ** (8 * HIT_BYTES);
const MAX_SEEDED_ACCOUNTS = 3;
const BYTES_PER_ACCOUNT = 7;

/** The seed as an HMAC key, made once per seed (not per call). */
const seedKeys = new Map<Seed, KeyObject>();
function seedKey(seed: Seed): KeyObject {
  let key = seedKeys.get(seed);
  if (!key) {
    key = createSecretKey(Buffer.from(String(seed), 'utf8'));
    seedKeys.set(seed, key);
  }
  return key;
}

function seededDigest(seed: Seed, myNumber: string, institutionCode: string): Buffer {
  return createHmac('sha256', seedKey(seed)).update(`${myNumber}:${institutionCode}`).digest();
}

/**
 * The accounts the seed gives `myNumber` at `institutionCode`: none unless the hash
 * of (seed, number, code) falls under `hitRate`, else 1–3 accounts whose branch, type
 * and number come from the same hash.
 */
export function seededAccounts(seed: Seed, hitRate: number, myNumber: string, institutionCode: string): AccountRef[] {
  if (hitRate <= 0) return [];
  const digest = seededDigest(seed, myNumber, institutionCode);
  if (digest.readUIntBE(0, HIT_BYTES) / HIT_SCALE >= hitRate) return [];
  const count = 1 + (digest[HIT_BYTES] % MAX_SEEDED_ACCOUNTS);
  const accounts: AccountRef[] = [];
  for (let k = 0; k < count; k++) {
    const at = HIT_BYTES + 1 + k * BYTES_PER_ACCOUNT;
    const account: AccountRef = {
      branchCode: String(digest.readUInt16BE(at) % 1000).padStart(3, '0'),
      accountType: ACCOUNT_TYPES[digest[at + 2] % ACCOUNT_TYPES.length],
      accountNumber: String(digest.readUInt32BE(at + 3) % 10_000_000).padStart(7, '0'),
    };
    if (!accounts.some((a) => sameAccount(a, account))) accounts.push(account);
  }
  return accounts;
}

/** Who holds a number's accounts: a kana name (full-width katakana) and a birth date. */
export interface SimulatedHolder {
  nameKana: string;
  /** YYYY-MM-DD */
  birthDate: string;
}

const SYLLABLES = [...'アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ'];
const FIRST_BIRTH_DAY = Date.UTC(1930, 0, 1);
const BIRTH_DAYS = 70 * 365;

/**
 * The holder the seed gives a number (at every simulated institution): a name of two
 * three-syllable parts ("カキク サシス") and a birth date from 1930 on, from a hash of
 * (seed, number). A simulated node lists accounts only for a query naming this holder
 * (name key and birth date), as kouza-hub does.
 */
export function seededHolder(seed: Seed, myNumber: string): SimulatedHolder {
  const digest = createHmac('sha256', seedKey(seed)).update(`holder:${myNumber}`).digest();
  const part = (at: number) => [0, 1, 2].map((k) => SYLLABLES[digest[at + k] % SYLLABLES.length]).join('');
  const day = digest.readUInt32BE(8) % BIRTH_DAYS;
  return { nameKana: `${part(0)} ${part(3)}`, birthDate: new Date(FIRST_BIRTH_DAY + day * 86_400_000).toISOString().slice(0, 10) };
}

export function sameAccount(a: AccountRef, b: AccountRef): boolean {
  return a.branchCode === b.branchCode && a.accountType === b.accountType && a.accountNumber === b.accountNumber;
}

/** 32 bytes for `purpose`, derived from the seed (node keys, fault streams, selections). */
export function seedBytes(seed: Seed, purpose: string): Buffer {
  return createHash('sha256').update(`kouza-hub-simulator\0${String(seed)}\0${purpose}`).digest();
}

/** A small, fast PRNG (mulberry32): reproducible fault decisions, uniform in [0, 1). */
export function seededRandom(seed: Seed, purpose: string): () => number {
  let state = seedBytes(seed, purpose).readUInt32BE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exactly round(fraction × count) of the indexes 0..count−1, chosen by the seed. */
export function seededSelection(seed: Seed, purpose: string, count: number, fraction: number): number[] {
  const keyed = Array.from({ length: count }, (_, i) => ({
    i,
    key: seedBytes(seed, `${purpose}/${i}`).readUInt32BE(0),
  }));
  keyed.sort((a, b) => a.key - b.key || a.i - b.i);
  return keyed
    .slice(0, Math.round(fraction * count))
    .map((k) => k.i)
    .sort((a, b) => a - b);
}
