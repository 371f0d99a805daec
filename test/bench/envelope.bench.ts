import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { CompactEncrypt, CompactSign, compactDecrypt, compactVerify } from 'jose';
import { decryptCompact, encryptCompact, signCompact, verifyCompact } from '../../src/peers/compact-jose.js';
import { fmt, printTable, timestamp, writeResults } from './support/report.js';
import { positive } from './support/settings.js';

/**
 * The node-to-node envelope, seal + open, with this project's node:crypto implementation
 * (src/peers/compact-jose.ts) and with jose, in the same process and run, on the running
 * Node: a JWS (EdDSA) of a location-query-sized payload nested in a JWE (ECDH-ES+A256KW,
 * A256GCM) to an X25519 key, then decrypted and verified. Keys are created once, as the
 * service caches them; each side seals and opens BENCH_ENVELOPE_MESSAGES messages (default
 * 5,000) after a warm-up, sequentially (one core), and reports messages per second and CPU
 * milliseconds per seal + open. Target: ours ≥ 4× jose.
 */

const SUITE = 'envelope';

/** A location query of one subject as the protocol sends it (≈ 400 bytes of claims). */
function claims(): Buffer {
  const now = Math.floor(Date.now() / 1000);
  return Buffer.from(
    JSON.stringify({
      typ: 'location-query',
      v: 2,
      iss: 'node-a',
      aud: 'node-b',
      jti: randomUUID(),
      iat: now,
      exp: now + 60,
      purpose: 'inheritance',
      queries: [{ ref: randomUUID(), myNumber: '123456789018', nameKey: 'ﾔﾏﾀﾞ ﾀﾛｳ', birthDate: '1980-04-01' }],
    }),
  );
}

interface Side {
  seal(payload: Buffer): Promise<string> | string;
  open(jwe: string): Promise<Buffer> | Buffer;
}

async function measure(side: Side, messages: number): Promise<{ perSecond: number; cpuMsPerMessage: number; wallMs: number }> {
  const warmup = Math.min(500, messages);
  for (let i = 0; i < warmup; i++) await side.open(await side.seal(claims()));
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < messages; i++) {
    const payload = claims();
    const opened = await side.open(await side.seal(payload));
    if (!opened.equals(payload)) throw new Error('the envelope did not round-trip');
  }
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpuBefore);
  return { perSecond: (messages / wallMs) * 1000, cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / messages, wallMs };
}

export async function run(): Promise<void> {
  const messages = positive('BENCH_ENVELOPE_MESSAGES', 5000);
  const signing = generateKeyPairSync('ed25519');
  const encryption = generateKeyPairSync('x25519');
  const header = { kid: 'node-a', skid: 'thumbprint-of-the-signing-key' };
  const jweHeader = { kid: 'thumbprint-of-the-encryption-key', snd: 'node-a' };

  const ours: Side = {
    seal: (payload) => encryptCompact(Buffer.from(signCompact(payload, header, signing.privateKey)), jweHeader, encryption.publicKey),
    open: (jwe) => verifyCompact(decryptCompact(jwe, [encryption.privateKey]).plaintext.toString(), [signing.publicKey]).payload,
  };
  const jose: Side = {
    seal: async (payload) => {
      const jws = await new CompactSign(payload).setProtectedHeader({ ...header, alg: 'EdDSA' }).sign(signing.privateKey);
      return new CompactEncrypt(Buffer.from(jws))
        .setProtectedHeader({ ...jweHeader, alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
        .encrypt(encryption.publicKey);
    },
    open: async (jwe) => {
      const { plaintext } = await compactDecrypt(jwe, encryption.privateKey, {
        keyManagementAlgorithms: ['ECDH-ES+A256KW'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      const { payload } = await compactVerify(Buffer.from(plaintext).toString(), signing.publicKey, { algorithms: ['EdDSA'] });
      return Buffer.from(payload);
    },
  };
  // Each side opens what the other sealed, so that the comparison is of one wire format.
  const crossed = claims();
  if (!(await jose.open(ours.seal(crossed) as string)).equals(crossed)) throw new Error('jose does not open ours');
  if (!(ours.open(await jose.seal(crossed)) as Buffer).equals(crossed)) throw new Error('ours does not open jose’s');

  process.stdout.write(
    `${SUITE}: ${messages} seal + open per side, sequential, on node ${process.version}, ` +
      `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})\n`,
  );
  const results = { ours: await measure(ours, messages), jose: await measure(jose, messages) };
  const speedup = results.jose.cpuMsPerMessage / results.ours.cpuMsPerMessage;
  printTable(
    ['implementation', 'seal+open /s', 'CPU ms per seal+open', 'wall s'],
    Object.entries(results).map(([name, r]) => [name, fmt(r.perSecond, 0), fmt(r.cpuMsPerMessage, 3), fmt(r.wallMs / 1000, 2)]),
  );
  process.stdout.write(`ours is ${fmt(speedup, 2)}× jose in CPU per message (target ≥ 4×): ${speedup >= 4 ? 'MET' : 'NOT MET'}\n`);
  const file = writeResults(SUITE, timestamp(), { node: process.version, messages, results, speedup });
  process.stdout.write(`results: ${file}\n`);
}
