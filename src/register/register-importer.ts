import { isUtf8 } from 'node:buffer';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import iconv from 'iconv-lite';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DEFAULT_REGISTER_IMPORT_MAX_ERRORS, DEFAULT_REGISTER_REBUILD_PERCENT } from '../config/cli-settings.js';
import { BinaryCopyWriter } from './copy-binary.js';
import { RegisterCopyRows } from './register-copy-rows.js';
import {
  CsvSplitter,
  detectEncoding,
  looksBinary,
  NdjsonSplitter,
  RefusedFile,
  type CsvSink,
  type ParsedRecord,
  type RegisterEncoding,
  type RegisterFormat,
} from './register-parser.js';
import { accountKeyOf, isRowError, validateRow, type RegisterColumn } from './register-row.js';

/**
 * The register importer: bytes → decode → split → validate and normalise → COPY, then
 * the institution's partition of account_register is either rebuilt or merged into:
 *
 * - a first load (empty partition) COPYs straight into a new, unindexed table, builds
 *   its two indexes and swaps it in for the empty partition;
 * - a full import COPYs into a temporary staging table, builds the new table from
 *   staging and the old partition (INSERT … SELECT, then the index builds) and swaps
 *   it in, unless it changes nothing;
 * - a delta import merges (one INSERT … ON CONFLICT statement).
 *
 * Bulk insert and index build cost about a third of inserting into indexed tables
 * (README, benchmark). All of it runs in one transaction on one connection (DDL
 * included): an import that is interrupted (process killed, connection lost) rolls
 * back and leaves the register as it was. The swap (DETACH, DROP, ATTACH) comes last,
 * so the lock it takes on account_register is held only until the commit.
 *
 * Memory stays flat: every stage is a stream with backpressure (COPY slows the
 * parser, the parser slows the reader), batches are bounded, duplicates are found in
 * SQL on the staging table.
 */

export type ImportMode = 'full' | 'delta';

export interface ImportProgress {
  bytesRead: number;
  bytesTotal: number | null;
  rowsRead: number;
  rowsPerSecond: number;
}

export interface ImportErrorEntry {
  line: number;
  field?: RegisterColumn;
  reason: string;
}

export interface ImportCounts {
  inserted: number;
  updated: number;
  closed: number;
  unchanged: number;
  rejected: number;
}

export type ImportOutcome =
  | { status: 'completed'; counts: ImportCounts; errors: ImportErrorEntry[]; errorCount: number; progress: ImportProgress }
  | { status: 'refused'; reason: string; progress: ImportProgress };

export interface ImportOptions {
  /** A dedicated connection, not in a transaction; the importer begins and ends one. */
  client: pg.ClientBase;
  institutionId: string;
  mode: ImportMode;
  format: RegisterFormat;
  encoding: RegisterEncoding;
  source: Readable;
  bytesTotal?: number | null;
  /** How many row errors the report keeps (all are counted). */
  maxErrors?: number;
  /** A full import changing more than this percentage of the register rebuilds it (REGISTER_REBUILD_PERCENT). */
  rebuildPercent?: number;
  /** Live progress (the caller throttles what it does with it). */
  progress?: ImportProgress;
  /** Filled with the milliseconds each step took (the benchmark's breakdown). */
  timings?: Record<string, number>;
  /** Runs inside the transaction after the merge, before COMMIT (the job's final row). */
  beforeCommit?: (client: pg.ClientBase, outcome: ImportOutcome & { status: 'completed' }) => Promise<void>;
}

/** COPY data is handed on in buffers of about this many bytes. */
const BATCH_BYTES = 256 * 1024;

export { RefusedFile };

/** The length of the UTF-8 character a lead byte starts (1 for anything else: isUtf8 judges). */
function characterSize(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** How many bytes at the end of `buf` (after `from`) start a character that continues in the next chunk. */
function cutCharacter(buf: Buffer, from: number): number {
  for (let k = buf.length - 1; k >= Math.max(from, buf.length - 3); k--) {
    const b = buf[k];
    if ((b & 0xc0) === 0x80) continue;
    return k + characterSize(b) > buf.length ? buf.length - k : 0;
  }
  return 0;
}

/**
 * Bytes in the file's encoding → UTF-8 bytes (CSV, split as bytes) or text (NDJSON);
 * the first chunk decides the encoding and is checked. UTF-8 passes through, checked
 * (isUtf8, native); Shift_JIS is decoded and re-encoded.
 */
export class Decoder extends Transform {
  private decode?: (chunk: Buffer) => Buffer | string;
  private finish?: () => Buffer | string;
  private offset = 0;

  constructor(
    private readonly encoding: RegisterEncoding,
    private readonly output: 'bytes' | 'text',
    private readonly progress: ImportProgress,
  ) {
    super({ readableObjectMode: true, highWaterMark: 4 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.progress.bytesRead += chunk.length;
      if (!this.decode) this.start(chunk);
      const out = this.decode!(chunk);
      this.offset += chunk.length;
      if (out.length) this.push(out);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      const rest = this.finish?.() ?? '';
      if (rest.length) this.push(rest);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  private start(head: Buffer): void {
    if (looksBinary(head)) throw new RefusedFile('the file is binary, not a register');
    const encoding = this.encoding === 'auto' ? detectEncoding(head) : this.encoding;
    if (encoding === 'utf-8' && this.output === 'bytes') {
      // Checked up to the last whole character; a character cut by the chunk's end is
      // checked with the first bytes of the next (no chunk is copied).
      let tail = Buffer.alloc(0);
      const invalid = () => new RefusedFile(`the file is not valid UTF-8 (in the bytes from offset ${this.offset})`);
      this.decode = (chunk) => {
        let from = 0;
        if (tail.length) {
          from = Math.min(chunk.length, characterSize(tail[0]) - tail.length);
          const joined = Buffer.concat([tail, chunk.subarray(0, from)]);
          if (joined.length < characterSize(tail[0])) {
            tail = joined;
            return chunk;
          }
          if (!isUtf8(joined)) throw invalid();
        }
        const cut = chunk.length - cutCharacter(chunk, from);
        if (!isUtf8(chunk.subarray(from, cut))) throw invalid();
        tail = Buffer.from(chunk.subarray(cut));
        return chunk;
      };
      this.finish = () => {
        if (tail.length) throw new RefusedFile('the file is not valid UTF-8 (it ends inside a character)');
        return '';
      };
    } else if (encoding === 'utf-8') {
      const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
      this.decode = (chunk) => {
        try {
          return decoder.decode(chunk, { stream: true });
        } catch {
          throw new RefusedFile(`the file is not valid UTF-8 (in the bytes from offset ${this.offset})`);
        }
      };
      this.finish = () => {
        try {
          return decoder.decode();
        } catch {
          throw new RefusedFile('the file is not valid UTF-8 (it ends inside a character)');
        }
      };
    } else {
      // cp932: Shift_JIS as Windows and core systems write it (NEC and IBM extensions).
      const decoder = iconv.getDecoder('cp932');
      const out = (text: string) => (this.output === 'bytes' ? Buffer.from(text) : text);
      this.decode = (chunk) => out(decoder.write(chunk));
      this.finish = () => out(decoder.end() ?? '');
    }
  }
}

/** Records → binary COPY tuples (register-copy-rows.ts), collecting row errors. */
export class RowEncoder extends Transform {
  private readonly csv?: CsvSplitter;
  private readonly ndjson?: NdjsonSplitter;
  private readonly records: ParsedRecord[] = [];
  private readonly sink: CsvSink;
  private readonly writer = new BinaryCopyWriter(2 * BATCH_BYTES);
  private readonly rows: RegisterCopyRows;
  readonly errors: ImportErrorEntry[] = [];
  errorCount = 0;
  dataRows = 0;
  validRows = 0;
  private readonly startedAt = Date.now();

  /**
   * `closedAt` null: staging tuples (rejected rows with a valid account key included);
   * else tuples of a first load's new partition, closed accounts closed at `closedAt`
   * (microseconds since 2000-01-01).
   */
  constructor(
    format: RegisterFormat,
    private readonly progress: ImportProgress,
    private readonly maxErrors: number,
    private readonly closedAt: bigint | null,
  ) {
    super({ writableObjectMode: true, writableHighWaterMark: 4 });
    if (format === 'csv') this.csv = new CsvSplitter();
    else this.ndjson = new NdjsonSplitter();
    this.rows = new RegisterCopyRows(this.writer, closedAt);
    this.sink = {
      line: (text, start, end, line) => {
        if (!this.rows.fromLine(text, start, end, line)) return false;
        this.dataRows++;
        this.validRows++;
        if (this.writer.length >= BATCH_BYTES) this.push(this.writer.take());
        return true;
      },
      record: (record) => {
        this.dataRows++;
        this.row(record.line, record.fields());
        if (this.writer.length >= BATCH_BYTES) this.push(this.writer.take());
      },
      error: (line, reason) => {
        this.dataRows++;
        this.reject(line, undefined, reason);
      },
    };
    this.writer.header();
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.rows.refreshToday();
      if (this.csv) this.csv.push(chunk as Buffer, this.sink);
      else this.ndjson!.push(chunk as string, this.records);
      this.drain();
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.csv) this.csv.end(this.sink);
      else this.ndjson!.end(this.records);
      this.drain();
      if (this.dataRows === 0) throw new RefusedFile('the file has no rows');
      this.writer.trailer();
      this.push(this.writer.take());
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  private reject(line: number, field: RegisterColumn | undefined, reason: string): void {
    this.errorCount++;
    if (this.errors.length < this.maxErrors) this.errors.push(field ? { line, field, reason } : { line, reason });
  }

  /** A row as strings: validated by validateRow, the reference. */
  private row(line: number, fields: string[]): void {
    const result = validateRow(fields);
    if (isRowError(result)) {
      this.reject(line, result.field, result.reason);
      // A first load has nothing to close, so no use for a rejected row's account.
      const key = this.closedAt === null && fields.length === 9 ? accountKeyOf(fields) : null;
      if (key) this.rows.rejected(line, key);
    } else {
      this.validRows++;
      this.rows.fromRow(line, result);
    }
  }

  /** NDJSON records; then the progress (both formats). */
  private drain(): void {
    for (const record of this.records) {
      this.dataRows++;
      if ('error' in record) this.reject(record.line, record.error.field, record.error.reason);
      else this.row(record.line, record.fields);
      if (this.writer.length >= BATCH_BYTES) this.push(this.writer.take());
    }
    this.records.length = 0;
    if (this.writer.length >= BATCH_BYTES) this.push(this.writer.take());
    this.progress.rowsRead = this.dataRows;
    const seconds = (Date.now() - this.startedAt) / 1000;
    this.progress.rowsPerSecond = seconds > 0 ? Math.round(this.dataRows / seconds) : 0;
  }
}

const STAGING = `
  CREATE TEMP TABLE register_staging (
    line            integer NOT NULL,
    branch_code     text NOT NULL,
    account_type    text NOT NULL,
    account_number  text NOT NULL,
    -- A rejected row whose account is identifiable: full mode must not close that account.
    rejected        boolean NOT NULL,
    customer_number text,
    name_kana       text,
    name_key        text,
    birth_date      date,
    postal_code     text,
    address         text,
    status          text
  ) ON COMMIT DROP`;

const COLUMNS = 'customer_number, name_kana, name_key, birth_date, postal_code, address, status';
const ALL_COLUMNS = `institution_id, branch_code, account_type, account_number, ${COLUMNS}, closed_at, updated_at`;
/** The columns that some query compares: those ANALYZE samples. */
const ANALYZED_COLUMNS = 'account_number, branch_code, account_type, birth_date, name_key, status';
/** What a first load COPYs into its new table (institution_id and updated_at are defaults). */
const DIRECT_COLUMNS = `line, branch_code, account_type, account_number, ${COLUMNS}, closed_at`;
const SAME_KEY = 's.branch_code = o.branch_code AND s.account_type = o.account_type AND s.account_number = o.account_number';
const UNCHANGED = `(o.${COLUMNS.split(', ').join(', o.')}) IS NOT DISTINCT FROM (s.${COLUMNS.split(', ').join(', s.')})`;

/**
 * The merge of a delta import: insert new accounts, update changed ones only. Into
 * the institution's partition itself: an import never locks account_register as a
 * whole before its swap (see importRegister).
 */
const MERGE = (partition: string, source = 'register_staging WHERE NOT rejected') => `
  WITH upserted AS (
    INSERT INTO ${partition} AS r (${ALL_COLUMNS})
    SELECT $1, branch_code, account_type, account_number, ${COLUMNS},
           CASE WHEN status = 'closed' THEN now() END, now()
      FROM ${source}
    ON CONFLICT (institution_id, branch_code, account_type, account_number) DO UPDATE SET
      customer_number = EXCLUDED.customer_number, name_kana = EXCLUDED.name_kana, name_key = EXCLUDED.name_key,
      birth_date = EXCLUDED.birth_date, postal_code = EXCLUDED.postal_code, address = EXCLUDED.address,
      status = EXCLUDED.status,
      -- Closed keeps its first closing time; open (reopened) has none.
      closed_at = CASE WHEN EXCLUDED.status = 'closed' THEN coalesce(r.closed_at, now()) END,
      updated_at = now()
    -- An unchanged row is not touched (re-importing a file changes nothing).
    WHERE (r.${COLUMNS.split(', ').join(', r.')}) IS DISTINCT FROM
          (EXCLUDED.${COLUMNS.split(', ').join(', EXCLUDED.')})
    RETURNING (xmax = 0) AS inserted
  )
  SELECT (SELECT count(*) FROM upserted WHERE inserted)::int AS inserted,
         (SELECT count(*) FROM upserted WHERE NOT inserted)::int AS updated,
         0 AS closed`;

/**
 * What a full import changes, found by comparing whole tables in one pass (a hash full
 * join) and kept small: the lines of the file whose row is new (i) or differs from the
 * register's (u), and the open accounts the file has no row for (c). A rejected row's
 * account is matched, hence kept, not closed.
 */
const DIFF = (partition: string) => `
  CREATE TEMP TABLE register_diff ON COMMIT DROP AS
  SELECT s.line, o.branch_code, o.account_type, o.account_number,
         CASE WHEN s.line IS NULL THEN 'c' WHEN o.institution_id IS NULL THEN 'i' ELSE 'u' END AS change
    FROM register_staging s
    FULL JOIN ${partition} o ON ${SAME_KEY}
   WHERE (s.line IS NULL AND o.status = 'open')
      OR (NOT s.rejected AND (o.institution_id IS NULL OR NOT ${UNCHANGED}))`;
/** A full import in place: the absent accounts closed (the changed rows are merged by MERGE). */
const CLOSE_ABSENT = (partition: string) => `
  UPDATE ${partition} o SET status = 'closed', closed_at = now(), updated_at = now()
    FROM register_diff s
   WHERE s.change = 'c' AND ${SAME_KEY}`;

/**
 * The new partition of a full import that changes much: the file's valid rows (an unchanged one keeps
 * its row as it was, updated_at included), then the old rows the file has no valid
 * row for: closed if open and absent from the file; kept as they were if the file
 * has only rejected rows for them (what the merge would do, plus closing). `change`
 * says what happened to each row, for the counts (and is dropped afterwards): i
 * inserted, u updated, n unchanged, c closed by absence, k kept.
 */
const BUILD_FROM_STAGING = (table: string, partition: string) => `
  INSERT INTO ${table} (${ALL_COLUMNS}, change)
  SELECT $1, s.branch_code, s.account_type, s.account_number, s.${COLUMNS.split(', ').join(', s.')},
         CASE WHEN same THEN o.closed_at WHEN s.status = 'closed' THEN coalesce(o.closed_at, now()) END,
         CASE WHEN same THEN o.updated_at ELSE now() END,
         CASE WHEN o.institution_id IS NULL THEN 'i' WHEN same THEN 'n' ELSE 'u' END
    FROM register_staging s
    LEFT JOIN ${partition} o ON ${SAME_KEY},
         LATERAL (SELECT o.institution_id IS NOT NULL AND ${UNCHANGED} AS same) x
   WHERE NOT s.rejected
  UNION ALL
  SELECT o.institution_id, o.branch_code, o.account_type, o.account_number,
         o.customer_number, o.name_kana, o.name_key, o.birth_date, o.postal_code, o.address,
         CASE WHEN gone THEN 'closed' ELSE o.status END,
         CASE WHEN gone THEN now() ELSE o.closed_at END,
         CASE WHEN gone THEN now() ELSE o.updated_at END,
         CASE WHEN gone THEN 'c' ELSE 'k' END
    FROM ${partition} o
    LEFT JOIN (SELECT DISTINCT branch_code, account_type, account_number FROM register_staging WHERE rejected) s
      ON ${SAME_KEY},
         LATERAL (SELECT o.status = 'open' AND s.branch_code IS NULL AS gone) g
   WHERE NOT EXISTS (SELECT 1 FROM register_staging s WHERE NOT s.rejected AND ${SAME_KEY})`;

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Imports one file. Resolves with the outcome (completed or refused); rejects if the
 * database fails, after rolling back. A refused file writes nothing.
 */
export async function importRegister(options: ImportOptions): Promise<ImportOutcome> {
  const { client, institutionId, mode } = options;
  const maxErrors = options.maxErrors ?? DEFAULT_REGISTER_IMPORT_MAX_ERRORS;
  const rebuildPercent = options.rebuildPercent ?? DEFAULT_REGISTER_REBUILD_PERCENT;
  const progress = options.progress ?? { bytesRead: 0, bytesTotal: null, rowsRead: 0, rowsPerSecond: 0 };
  progress.bytesTotal = options.bytesTotal ?? null;
  // Interpolated into DDL below (a partition's bound and CHECK take no parameters).
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(institutionId)) {
    throw new Error('institutionId must be a uuid');
  }
  const timings = options.timings ?? {};
  let mark = Date.now();
  const lap = (step: string) => {
    const now = Date.now();
    timings[step] = (timings[step] ?? 0) + now - mark;
    mark = now;
  };
  // The institution's partition, in a transaction of its own: creating one locks
  // account_register, which the import's transaction would hold until it commits. An
  // empty partition left by a failed import is harmless (no rows: no register).
  const { rows: partRows } = await client.query<{ part: string }>('SELECT kouza_register_partition($1) AS part', [
    institutionId,
  ]);
  const partition = partRows[0].part;
  const building = `account_register_new_${institutionId.replace(/-/g, '')}`;
  await client.query('BEGIN');
  try {
    // One import per institution at a time: a second waits for the first to commit.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('account_register:' || $1))`, [institutionId]);
    // Sorting and hashing a million rows wants more than the defaults (4 MB, 64 MB): a
    // full import's comparison hashes the file's rows (200 MB per million, in memory
    // instead of in batches on disk); the index builds sort.
    await client.query(`SET LOCAL work_mem = '256MB'`);
    await client.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    // These statements run once over whole tables: compiling them (JIT) cost more than
    // it saved (0.3 s of a full import's comparison of 1,000,000 rows).
    await client.query('SET LOCAL jit = off');
    // now() as binary COPY writes a timestamp: microseconds since 2000-01-01.
    const { rows: head } = await client.query<{ empty: boolean; now: string }>(
      `SELECT NOT EXISTS (SELECT 1 FROM ${quote(partition)}) AS empty,
              (extract(epoch FROM now() - '2000-01-01 00:00:00+00'::timestamptz) * 1000000)::bigint::text AS now`,
    );
    const firstLoad = head[0].empty;

    if (firstLoad) {
      // Straight into the new table: COPY runs on Postgres's core while this one parses.
      await client.query(`
        CREATE TABLE ${quote(building)} (
          LIKE ${quote(partition)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
          line integer NOT NULL,
          -- Implies the partition's bound: ATTACH then need not scan the table.
          CONSTRAINT institution CHECK (institution_id = '${institutionId}')
        )`);
      await client.query(`ALTER TABLE ${quote(building)} ALTER COLUMN institution_id SET DEFAULT '${institutionId}'`);
    } else {
      await client.query(STAGING);
    }
    const encoder = new RowEncoder(options.format, progress, maxErrors, firstLoad ? BigInt(head[0].now) : null);
    const copy = client.query(
      copyFrom(
        firstLoad
          ? `COPY ${quote(building)} (${DIRECT_COLUMNS}) FROM STDIN (FORMAT binary)`
          : `COPY register_staging (line, branch_code, account_type, account_number, rejected, ${COLUMNS}) FROM STDIN (FORMAT binary)`,
      ),
    );
    try {
      await pipeline(options.source, new Decoder(options.encoding, options.format === 'csv' ? 'bytes' : 'text', progress), encoder, copy);
    } catch (error) {
      if (error instanceof RefusedFile) {
        await client.query('ROLLBACK');
        return { status: 'refused', reason: error.message, progress };
      }
      throw error;
    }
    lap('parseAndCopy');

    let errors = encoder.errors;
    let errorCount = encoder.errorCount;
    const addDuplicates = async () => {
      const { rows: dupCount } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM register_duplicates');
      if (dupCount[0].n === 0) return 0;
      const { rows: dups } = await client.query<{ line: number; first_line: number }>(
        'SELECT line, first_line FROM register_duplicates ORDER BY line LIMIT $1',
        [maxErrors],
      );
      errors = [...errors, ...dups.map((d) => ({ line: d.line, reason: `duplicate of line ${d.first_line}` }))]
        .sort((a, b) => a.line - b.line)
        .slice(0, maxErrors);
      errorCount += dupCount[0].n;
      return dupCount[0].n;
    };

    let counts: { inserted: number; updated: number; closed: number };
    let valid = encoder.validRows;
    let rebuild = firstLoad;
    if (firstLoad) {
      // Duplicates within the file: the primary key's build finds them for free; only
      // when it fails are they looked for (the first occurrence wins, the others are
      // reported), deleted, and the build tried again.
      await client.query('SAVEPOINT primary_key');
      try {
        await addPrimaryKey(client, building);
      } catch (error) {
        if ((error as { code?: string }).code !== '23505') throw error;
        await client.query('ROLLBACK TO SAVEPOINT primary_key');
        await client.query(`
          CREATE TEMP TABLE register_duplicates ON COMMIT DROP AS
          SELECT line, first_line
            FROM (SELECT line, min(line) OVER (PARTITION BY branch_code, account_type, account_number) AS first_line
                    FROM ${quote(building)}) d
           WHERE line <> first_line`);
        valid -= await addDuplicates();
        await client.query(`DELETE FROM ${quote(building)} b USING register_duplicates d WHERE b.line = d.line`);
        await addPrimaryKey(client, building);
      }
      lap('primaryKey');
      counts = { inserted: valid, updated: 0, closed: 0 };
    } else {
      // Planner statistics for the joins below (a temporary table has none): row count and keys.
      await client.query('ANALYZE register_staging (line, branch_code, account_type, account_number, rejected)');
      lap('analyze');
      // Duplicates within the file: the first occurrence wins, the others are reported.
      // A unique index finds whether there are any (0.66 s for 1,000,000 rows, where the
      // grouping query takes 0.9 s); only then are they looked for and deleted.
      await client.query('SAVEPOINT duplicates');
      try {
        await client.query(
          'CREATE UNIQUE INDEX register_staging_key ON register_staging (account_number, branch_code, account_type) WHERE NOT rejected',
        );
      } catch (error) {
        if ((error as { code?: string }).code !== '23505') throw error;
        await client.query('ROLLBACK TO SAVEPOINT duplicates');
        await client.query(`
          CREATE TEMP TABLE register_duplicates ON COMMIT DROP AS
          SELECT s.line, d.first_line
            FROM register_staging s
            JOIN (SELECT branch_code, account_type, account_number, min(line) AS first_line
                    FROM register_staging WHERE NOT rejected
                   GROUP BY 1, 2, 3 HAVING count(*) > 1) d USING (branch_code, account_type, account_number)
           WHERE NOT s.rejected AND s.line <> d.first_line`);
        await addDuplicates();
        await client.query('DELETE FROM register_staging s USING register_duplicates d WHERE s.line = d.line');
      }
      lap('duplicates');
      const { rows: v } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM register_staging WHERE NOT rejected');
      valid = v[0].n;
      if (mode === 'full') {
        // What the file changes, before anything is written. Whole tables joined: hash
        // joins (measured on 600,000 rows: 2.7 s, where the planner's memoized
        // primary-key probes took 7.3 s).
        await client.query('SET LOCAL enable_nestloop = off');
        await client.query('SET LOCAL enable_mergejoin = off');
        await client.query(DIFF(quote(partition)));
        const { rows: d } = await client.query<{ changed: number; absent: number }>(
          `SELECT count(*) FILTER (WHERE change <> 'c')::int AS changed, count(*) FILTER (WHERE change = 'c')::int AS absent
             FROM register_diff`,
        );
        await client.query('SET LOCAL enable_nestloop = on');
        await client.query('SET LOCAL enable_mergejoin = on');
        lap('compare');
        const changes = d[0].changed + d[0].absent;
        // The file is the register: its valid rows are the register's size.
        rebuild = changes > 0 && changes * 100 > rebuildPercent * Math.max(valid, 1);
        if (changes === 0) {
          // Re-importing a file changes nothing, and writes nothing.
          counts = { inserted: 0, updated: 0, closed: 0 };
        } else if (!rebuild) {
          // A few changes: in place, the changed rows only (index maintenance for those).
          const merged = await client.query<{ inserted: number; updated: number }>(
            MERGE(quote(partition), `register_staging WHERE line IN (SELECT line FROM register_diff WHERE change <> 'c')`),
            [institutionId],
          );
          const closed = await client.query(CLOSE_ABSENT(quote(partition)));
          counts = { inserted: merged.rows[0].inserted, updated: merged.rows[0].updated, closed: closed.rowCount ?? 0 };
          lap('merge');
        } else {
          // Many changes: the partition is built anew (bulk insert and index builds cost
          // less than as many index insertions), counted as it is built, and swapped in.
          await client.query(`
            CREATE TABLE ${quote(building)} (
              LIKE ${quote(partition)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
              change "char" NOT NULL,
              CONSTRAINT institution CHECK (institution_id = '${institutionId}')
            )`);
          await client.query('SET LOCAL enable_nestloop = off');
          await client.query('SET LOCAL enable_mergejoin = off');
          await client.query(BUILD_FROM_STAGING(quote(building), quote(partition)), [institutionId]);
          lap('load');
          const { rows: c } = await client.query<{ change: string; n: number }>(
            `SELECT change::text, count(*)::int AS n FROM ${quote(building)} GROUP BY change`,
          );
          const n = (change: string) => c.find((r) => r.change === change)?.n ?? 0;
          counts = { inserted: n('i'), updated: n('u'), closed: n('c') };
          await client.query(`ALTER TABLE ${quote(building)} DROP COLUMN change`);
          await addPrimaryKey(client, building);
          lap('primaryKey');
        }
      } else {
        counts = (await client.query<{ inserted: number; updated: number; closed: number }>(MERGE(quote(partition)), [institutionId])).rows[0];
        lap('merge');
      }
    }

    if (rebuild) {
      await client.query(
        `CREATE INDEX ${quote(`${building}_holder`)} ON ${quote(building)} (kouza_holder_key(name_key, birth_date))`,
      );
      if (firstLoad) await client.query(`ALTER TABLE ${quote(building)} DROP COLUMN line`);
      lap('holderIndex');
      // Statistics now, not when autovacuum gets to it: the next import's joins and the
      // readers' plans need them (without, a full import's comparison with a freshly
      // loaded partition was planned as nested loops: 90 s for 600,000 rows). Of the
      // columns that queries compare only (measured on 1,000,000 rows: 0.16 s against
      // 0.29 s for every column); names and addresses are only ever read.
      await client.query(`ANALYZE ${quote(building)} (${ANALYZED_COLUMNS})`);
      lap('analyze');
      // The swap, last. Until here the import has locked its partition and its new
      // table only (never account_register itself, which a concurrent import's swap
      // would then wait for while readers queue behind it); DETACH locks
      // account_register until the commit, which follows.
      await client.query(`ALTER TABLE account_register DETACH PARTITION ${quote(partition)}`);
      await client.query(`DROP TABLE ${quote(partition)}`);
      await client.query(`ALTER TABLE ${quote(building)} RENAME TO ${quote(partition)}`);
      await client.query(`ALTER INDEX ${quote(`${building}_pkey`)} RENAME TO ${quote(`${partition}_pkey`)}`);
      await client.query(`ALTER INDEX ${quote(`${building}_holder`)} RENAME TO ${quote(`${partition}_holder`)}`);
      await client.query(`ALTER TABLE account_register ATTACH PARTITION ${quote(partition)} FOR VALUES IN ('${institutionId}')`);
      // The partition bound says it now (and the next build, LIKE this one, adds its own).
      await client.query(`ALTER TABLE ${quote(partition)} DROP CONSTRAINT institution`);
      lap('swap');
    }

    const outcome = {
      status: 'completed' as const,
      counts: {
        inserted: counts.inserted,
        updated: counts.updated,
        closed: counts.closed,
        unchanged: valid - counts.inserted - counts.updated,
        rejected: errorCount,
      },
      errors,
      errorCount,
      progress,
    };
    await options.beforeCommit?.(client, outcome);
    await client.query('COMMIT');
    lap('commit');
    return outcome;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The partition's primary key (account_register's, columns in the same order, so ATTACH adopts it). */
async function addPrimaryKey(client: pg.ClientBase, table: string): Promise<void> {
  await client.query(
    `ALTER TABLE ${quote(table)} ADD CONSTRAINT ${quote(`${table}_pkey`)}
       PRIMARY KEY (account_number, branch_code, account_type, institution_id)`,
  );
}
