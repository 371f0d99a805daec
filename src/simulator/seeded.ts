import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { ACCOUNT_TYPES, type AccountRef } from '../linkages/linkage.types.js';

/**
 * Everything the simulator makes up derives from one seed, so that a run can be
 * repeated and a test or the benchmark can compute the answer an undisturbed run gives.
 */
export type Seed = string | number;

/** The account details are read from the digest after its first bytes. */
const HIT_BYTES = 6;
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

/** Numbers whose draw is kept (numberDraw), at most. */
const MAX_KEPT_DRAWS = 100_000;
const numberDraws = new Map<string, number>();

/**
 * 32 bits the seed gives a number, from an HMAC of (seed, number) made once per number:
 * a fan-out asks the same numbers at a thousand simulated institutions, and one HMAC per
 * number and institution was the simulator's largest cost, which a real peer's index
 * look-up does not have.
 */
function numberDraw(seed: Seed, myNumber: string): number {
  const key = `${String(seed)}\0${myNumber}`;
  let draw = numberDraws.get(key);
  if (draw === undefined) {
    draw = createHmac('sha256', seedKey(seed)).update(`draw:${myNumber}`).digest().readUInt32BE(0);
    if (numberDraws.size >= MAX_KEPT_DRAWS) numberDraws.clear();
    numberDraws.set(key, draw);
  }
  return draw;
}

/** Uniform in [0, 1) per (number, institution): the number's draw mixed with the code (murmur3's finalizer, a bijection). */
function hitDraw(seed: Seed, myNumber: string, institutionCode: string): number {
  let h = numberDraw(seed, myNumber);
  for (let i = 0; i < institutionCode.length; i++) h = Math.imul(h ^ institutionCode.charCodeAt(i), 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/**
 * The accounts the seed gives `myNumber` at `institutionCode`: none unless the draw of
 * (seed, number, code) falls under `hitRate`, else 1–3 accounts whose branch, type and
 * number come from a hash of (seed, number, code).
 */
export function seededAccounts(seed: Seed, hitRate: number, myNumber: string, institutionCode: string): AccountRef[] {
  if (hitRate <= 0 || hitDraw(seed, myNumber, institutionCode) >= hitRate) return [];
  const digest = seededDigest(seed, myNumber, institutionCode);
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
