import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { myNumberCheckDigit } from '../../src/common/my-number/my-number.js';
import { loadConfig } from '../../src/config/app-config.js';
import { aesGcmSeal } from '../../src/crypto/aes-gcm.js';
import { BlindIndex } from '../../src/crypto/blind-index.js';
import { loadKeyMaterial } from '../../src/crypto/key-material.js';
import { dataKeyAad, MasterKeySealer } from '../../src/crypto/master-key-sealer.js';
import { rowAad } from '../../src/crypto/my-number-cipher.js';
import { HostedLocations } from '../../src/locations/hosted-locations.js';
import { createBenchDatabase, openPool } from './support/bench-database.js';
import { cleanup } from './support/cleanup.js';
import { createInstitutionKey, startBenchApi, startBenchWorker } from './support/kouza-api.js';
import { describeMachine, fmt, machineInfo, printTable, timestamp, writeResults } from './support/report.js';
import { getJson, postJson } from './support/service-process.js';
import { positive } from './support/settings.js';
import { summarizeLatencies } from './support/stats.js';

/**
 * A blind-index rotation over BENCH_ROTATION_ROWS (default 1,000,000) linkages, then a
 * master-key rotation, with the real API and worker processes.
 *
 * The rows are generated here and loaded with COPY (subjects, attachments, linkages),
 * encrypted and indexed with the service's own cipher layout and keys: the attach path
 * is measured by the linkages suite, not here. While the worker re-indexes, look-ups
 * run without pause and are checked: a locate (HostedLocations, the fan-out's hosted
 * answer, in this process against the same database and keys), a linkage read by
 * account through the API, and now and then an attachment of an existing depositor
 * through the API (which must find the depositor, not create a second one).
 */

const SUITE = 'rotation';
const INSTITUTION_CODE = '9101';
const DATA_KEYS = 16;
const COPY_CHUNK = 20_000;

const myNumberOf = (i: number) => {
  const first11 = String(20_000_000_000 + i);
  return first11 + myNumberCheckDigit(first11);
};
const accountOf = (i: number) => String(i).padStart(7, '0');
const hex = (b: Buffer) => `\\\\x${b.toString('hex')}`;

interface Generated {
  subjects: number;
  seconds: number;
}

/** Subjects (version 1, under data keys wrapped by m1), one attachment and one linkage each, by COPY. */
async function generate(pool: pg.Pool, institutionId: string, rows: number, blindKey: Buffer, sealer: MasterKeySealer): Promise<Generated> {
  const started = Date.now();
  const dataKeys = Array.from({ length: DATA_KEYS }, () => ({ id: randomUUID(), key: randomBytes(32) }));
  for (const dk of dataKeys) {
    const wrapped = sealer.seal(dk.key, dataKeyAad(dk.id), 'm1');
    await pool.query(`INSERT INTO data_keys (id, master_key_id, wrapped_key, retired_at) VALUES ($1, $2, $3, now())`, [
      dk.id,
      wrapped.masterKeyId,
      wrapped.ciphertext,
    ]);
  }
  const consentAt = new Date(Date.now() - 86_400_000).toISOString();
  const subjectIds: string[] = new Array(rows);
  const attachmentIds: string[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    subjectIds[i] = randomUUID();
    attachmentIds[i] = randomUUID();
  }
  const copy = async (sql: string, line: (i: number) => string) => {
    const client = await pool.connect();
    try {
      await pipeline(
        Readable.from(
          (function* () {
            for (let start = 0; start < rows; start += COPY_CHUNK) {
              let chunk = '';
              for (let i = start; i < Math.min(rows, start + COPY_CHUNK); i++) chunk += line(i);
              yield chunk;
            }
          })(),
        ),
        client.query(copyFrom(sql)),
      );
    } finally {
      client.release();
    }
  };
  await copy(
    `COPY subjects (id, institution_id, blind_index_version, blind_index, my_number_ciphertext, data_key_id, name_kana, birth_date) FROM STDIN`,
    (i) => {
      const myNumber = myNumberOf(i);
      const dk = dataKeys[i % DATA_KEYS];
      const digest = createHmac('sha256', blindKey).update(myNumber, 'ascii').digest();
      // Bound to its row (format 2), as the service writes it.
      const aad = rowAad({ table: 'subjects', id: subjectIds[i], institutionId, blindIndexVersion: 1 });
      const ciphertext = aesGcmSeal(dk.key, Buffer.from(myNumber, 'ascii'), aad, 2);
      return `${subjectIds[i]}\t${institutionId}\t1\t${hex(digest)}\t${hex(ciphertext)}\t${dk.id}\tヤマダ タロウ\t1980-01-01\n`;
    },
  );
  await copy(
    `COPY attachments (id, institution_id, subject_id, branch_code, operator_id, number_document, identity_document, consent_at) FROM STDIN`,
    (i) => `${attachmentIds[i]}\t${institutionId}\t${subjectIds[i]}\t001\tBENCH\tmy-number-card\tmy-number-card\t${consentAt}\n`,
  );
  await copy(
    `COPY linkages (id, institution_id, subject_id, attachment_id, branch_code, account_type, account_number) FROM STDIN`,
    (i) => `${randomUUID()}\t${institutionId}\t${subjectIds[i]}\t${attachmentIds[i]}\t001\tordinary\t${accountOf(i)}\n`,
  );
  await pool.query('ANALYZE subjects; ANALYZE attachments; ANALYZE linkages');
  return { subjects: rows, seconds: (Date.now() - started) / 1000 };
}

interface RotationView {
  id: string;
  status: string;
  progress: { total: number; done: number; phase: string | null };
  moved: Record<string, number>;
  remaining?: Record<string, number>;
  startedAt: string | null;
  finishedAt: string | null;
}

interface LookupStats {
  kind: string;
  latencies: number[];
  errors: number;
  misses: number;
}

export async function run(): Promise<void> {
  const rows = Math.floor(positive('BENCH_ROTATION_ROWS', 1_000_000));
  const concurrency = Math.floor(positive('BENCH_ROTATION_LOOKUP_CONCURRENCY', 4));
  const stamp = timestamp();
  const db = await createBenchDatabase(`kouza_bench_rotation_${stamp}`);
  cleanup.add('drop the bench database', () => db.drop());
  const pool = openPool(db.ownerUrl, 8);
  cleanup.add('close the pool', () => pool.end());
  const machine = await machineInfo(pool);
  console.log(`${describeMachine(machine)}\n`);

  const key = () => randomBytes(32).toString('base64');
  const keysEnv = {
    // Version 2 active, 1 still held; master key m2 active, m1 still held: the state
    // during a rolling rotation of both keys.
    BLIND_INDEX_KEYS: `1:${key()},2:${key()}`,
    BLIND_INDEX_ACTIVE_VERSION: '2',
    MASTER_KEYS: `m1:${key()},m2:${key()}`,
    MASTER_KEY_ACTIVE_ID: 'm2',
  };
  const api = await startBenchApi(db.url, keysEnv);
  const keys = loadKeyMaterial(loadConfig(api.env), () => undefined);
  const teller = await createInstitutionKey(api, INSTITUTION_CODE, ['linkages:write', 'linkages:read']);
  const { rows: inst } = await pool.query<{ id: string }>('SELECT id FROM institutions WHERE code = $1', [INSTITUTION_CODE]);

  console.log(`generating ${rows.toLocaleString('en')} linkages (COPY) ...`);
  const generated = await generate(pool, inst[0].id, rows, keys.blindIndexKeys.get(1)!, new MasterKeySealer(keys));
  console.log(`  ${generated.subjects.toLocaleString('en')} subjects, attachments and linkages in ${fmt(generated.seconds)} s\n`);

  await startBenchWorker(api);
  const base = api.process.baseUrl;
  const locations = new HostedLocations(new BlindIndex(keys), pool);
  const stats: Record<string, LookupStats> = {
    locate: { kind: 'locate (HostedLocations, both versions)', latencies: [], errors: 0, misses: 0 },
    byAccount: { kind: 'GET /v1/linkages by account (API)', latencies: [], errors: 0, misses: 0 },
    attach: { kind: 'POST /v1/linkages, existing depositor (API)', latencies: [], errors: 0, misses: 0 },
  };
  let running = true;
  let attachSeq = 0;
  const consentAt = new Date(Date.now() - 3_600_000).toISOString();
  const timed = async (s: LookupStats, op: () => Promise<boolean>) => {
    const t0 = performance.now();
    try {
      if (!(await op())) s.misses++;
      s.latencies.push(performance.now() - t0);
    } catch {
      s.errors++;
    }
  };
  const loop = async (n: number) => {
    let k = n;
    while (running) {
      const i = Math.floor(Math.random() * rows);
      await timed(stats.locate, async () => {
        const found = await locations.locate([{ ref: 'q', myNumber: myNumberOf(i), nameKey: 'ﾔﾏﾀﾞﾀﾛｳ', birthDate: '1980-01-01' }]);
        return found.length === 1 && found[0].accounts.some((a) => a.accountNumber === accountOf(i));
      });
      await timed(stats.byAccount, async () => {
        const res = await fetch(`${base}/v1/linkages?branchCode=001&accountType=ordinary&accountNumber=${accountOf(i)}`, {
          headers: { authorization: `Bearer ${teller}` },
        });
        if (!res.ok) throw new Error(String(res.status));
        return ((await res.json()) as { items: unknown[] }).items.length === 1;
      });
      if (++k % 10 === 0 && attachSeq < 999_999) {
        await timed(stats.attach, async () => {
          const res = await fetch(`${base}/v1/linkages`, {
            method: 'POST',
            headers: { authorization: `Bearer ${teller}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              branchCode: '001',
              operatorId: 'BENCH',
              subject: { myNumber: myNumberOf(i), nameKana: 'ヤマダ タロウ', birthDate: '1980-01-01' },
              accounts: [{ branchCode: '002', accountType: 'savings', accountNumber: accountOf(++attachSeq) }],
              verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' },
              consentAt,
            }),
          });
          if (res.status !== 201) throw new Error(String(res.status));
          return true;
        });
      }
    }
  };

  const follow = async (id: string, label: string): Promise<RotationView> => {
    let last = '';
    for (;;) {
      const view = await getJson<RotationView>(`${base}/v1/key-rotations/${id}`, api.adminKey);
      const line = `  ${label}: ${view.status} ${view.progress.phase ?? ''} ${view.progress.done.toLocaleString('en')}/${view.progress.total.toLocaleString('en')}`;
      if (line !== last) process.stdout.write(`${line}\n`);
      last = line;
      if (view.status === 'completed' || view.status === 'failed') return view;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  const seconds = (v: RotationView) => (Date.parse(v.finishedAt!) - Date.parse(v.startedAt!)) / 1000;

  console.log('blind-index rotation (1 → 2), look-ups running:');
  const loops = Array.from({ length: concurrency }, (_, n) => loop(n));
  const blind = await follow((await postJson<RotationView>(`${base}/v1/key-rotations`, { kind: 'blind-index' }, api.adminKey)).id, 'blind-index');
  running = false;
  await Promise.all(loops);
  const blindSeconds = seconds(blind);
  const subjectsAfter = Number((await pool.query('SELECT count(*) FROM subjects')).rows[0].count);
  const underOld = Number((await pool.query('SELECT count(*) FROM subjects WHERE blind_index_version <> 2')).rows[0].count);

  console.log('\nmaster-key rotation (m1 → m2):');
  const master = await follow((await postJson<RotationView>(`${base}/v1/key-rotations`, { kind: 'master-key' }, api.adminKey)).id, 'master-key');
  const masterSeconds = seconds(master);

  console.log('');
  printTable(
    ['rotation', 'status', 'rows moved', 'seconds', 'rows/s'],
    [
      ['blind-index', blind.status, blind.progress.done, fmt(blindSeconds), fmt(blind.progress.done / blindSeconds, 0)],
      ['master-key', master.status, master.progress.done, fmt(masterSeconds, 2), fmt(master.progress.done / masterSeconds, 0)],
    ],
  );
  console.log('');
  const summaries = Object.values(stats).map((s) => ({ kind: s.kind, ...summarizeLatencies(s.latencies), errors: s.errors, misses: s.misses }));
  printTable(
    ['look-up during the blind-index rotation', 'count', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'misses'],
    summaries.map((s) => [s.kind, s.count, fmt(s.p50, 2), fmt(s.p99, 2), fmt(s.max, 1), s.errors, s.misses]),
  );
  const duplicates = subjectsAfter - rows;
  console.log(`\nsubjects after: ${subjectsAfter} (duplicates created by attachments: ${duplicates}); still under version 1: ${underOld}`);
  const file = writeResults(SUITE, stamp, {
    machine,
    rows,
    lookupConcurrency: concurrency,
    generatedSeconds: generated.seconds,
    blindIndex: { ...blind, seconds: blindSeconds, rowsPerSecond: blind.progress.done / blindSeconds },
    masterKey: { ...master, seconds: masterSeconds },
    lookups: summaries,
    duplicates,
    underOld,
  });
  console.log(`results: ${file}`);
  const failures = summaries.reduce((n, s) => n + s.errors + s.misses, 0) + duplicates + underOld;
  if (blind.status !== 'completed' || master.status !== 'completed' || failures > 0) {
    throw new Error(`rotation bench: ${failures} failed or wrong look-ups, duplicates or rows left; statuses ${blind.status}/${master.status}`);
  }
}
