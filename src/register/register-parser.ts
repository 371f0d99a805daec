import iconv from 'iconv-lite';
import { CSV_HEADER, ndjsonFields, type RowError } from './register-row.js';

/**
 * Splits register files into records, with the line each starts on: CSV as bytes
 * (UTF-8), NDJSON as decoded text.
 *
 * CSV is split as bytes, before any decoding: comma, quote and line break are ASCII,
 * which never occurs inside a UTF-8 multi-byte character, so fields are found by
 * `indexOf` and byte compares, and a valid row goes from the file's bytes to the COPY
 * stream's without ever becoming a string (register-fast-row.ts). Hand-written rather
 * than csv-parse, because of what was measured on the benchmark's 1,000,000-row file
 * (141 MB, 2 cores, Node 20): csv-parse alone (arrays, no `columns`) parses 186,000
 * rows/s, 94,000 rows/s with `info` for line numbers, where `psql \copy` of the same
 * file loads 354,000 rows/s; parsing alone would have spent the whole budget.
 */

export type ParsedRecord = { line: number; fields: string[] } | { line: number; error: RowError };

export class RefusedFile extends Error {
  override name = 'RefusedFile';
}

/**
 * A record longer than this is an error, not a reason to wait for more input: an
 * unterminated quote or a file without line breaks must not pull the rest of the file
 * into memory. A register row is a few hundred bytes.
 */
export const MAX_RECORD_BYTES = 64 * 1024;

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;
const EMPTY = Buffer.alloc(0);
const HEADER_BYTES = Buffer.from(CSV_HEADER);
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * One CSV record, reused from record to record (valid only during the callback):
 * field i is the UTF-8 bytes `bufs[i][starts[i], ends[i])`, quotes removed and doubled
 * quotes undoubled.
 */
export class CsvRecord {
  line = 0;
  count = 0;
  readonly bufs: Buffer[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];

  add(buf: Buffer, start: number, end: number): void {
    const i = this.count++;
    this.bufs[i] = buf;
    this.starts[i] = start;
    this.ends[i] = end;
  }

  /** The fields as strings (the slow path, and tests). */
  fields(): string[] {
    const out: string[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.bufs[i].toString('utf8', this.starts[i], this.ends[i]);
    return out;
  }
}

export interface CsvSink {
  /**
   * A line that may be a whole record (`text[start, end)`, line break excluded): true if
   * the sink took it as it is, false to have it split (then record() or error() follows).
   */
  line(text: Buffer, start: number, end: number, line: number): boolean;
  record(record: CsvRecord): void;
  error(line: number, reason: string): void;
}

/**
 * Incremental RFC 4180 splitter over bytes: push() chunks, the sink gets each complete
 * record; end() for the last one. Line 1 must be the header, exactly (a UTF-8 BOM
 * before it is allowed), else RefusedFile; empty lines are skipped. A line without a
 * quote is split on commas; a line holding one is scanned (quoted fields, doubled
 * quotes, line breaks inside quotes).
 */
export class CsvSplitter {
  private carry: Buffer = EMPTY;
  private work: Buffer = EMPTY;
  private line = 1;
  private headerSeen = false;
  private skipping = false;
  private readonly record = new CsvRecord();
  /** Undoubled quoted fields of the current record. */
  private scratch = Buffer.allocUnsafe(4096);
  private scratchPos = 0;

  push(chunk: Buffer, sink: CsvSink, final = false): void {
    const text = this.join(chunk);
    const length = text.length;
    const record = this.record;
    let pos = 0;
    // The next quote, looked up again only once passed (a scan per line would be quadratic).
    let quote = text.indexOf(QUOTE);
    while (pos < length) {
      if (this.skipping) {
        // The rest of an over-long line, already reported.
        const nl = text.indexOf(LF, pos);
        if (nl === -1) {
          pos = length;
          break;
        }
        this.skipping = false;
        pos = nl + 1;
        continue;
      }
      const nl = text.indexOf(LF, pos);
      if (nl === -1 && !final) {
        if (length - pos > MAX_RECORD_BYTES && this.headerSeen) {
          if (quote !== -1 && quote < pos) quote = text.indexOf(QUOTE, pos);
          sink.error(this.line++, quote === -1 ? `is longer than ${MAX_RECORD_BYTES} bytes` : 'has an unterminated quoted field');
          this.skipping = true;
          pos = length;
        }
        break;
      }
      const lineEnd = nl === -1 ? length : nl;
      if (quote !== -1 && quote < pos) quote = text.indexOf(QUOTE, pos);
      let end = lineEnd;
      if (end > pos && text[end - 1] === CR) end--;
      if (quote === -1 || quote > lineEnd || this.headerSeen) {
        const start = pos;
        const line = this.line;
        if (!this.headerSeen) {
          pos = lineEnd + 1;
          this.line++;
          this.checkHeader(text, start, end);
          continue;
        }
        if (end === start) {
          pos = lineEnd + 1;
          this.line++;
          continue;
        }
        // The fast path takes the line whole, or leaves it to be split here.
        if (sink.line(text, start, end, line)) {
          pos = lineEnd + 1;
          this.line++;
          continue;
        }
        if (quote === -1 || quote > lineEnd) {
          pos = lineEnd + 1;
          this.line++;
          record.line = line;
          record.count = 0;
          let from = start;
          for (let i = start; i < end; i++) {
            if (text[i] === COMMA) {
              record.add(text, from, i);
              from = i + 1;
            }
          }
          record.add(text, from, end);
          sink.record(record);
          continue;
        }
      }
      if (!this.headerSeen) throw new RefusedFile('the first line is not the register header');
      const line = this.line;
      record.line = line;
      record.count = 0;
      this.scratchPos = 0;
      const scanned = this.scanQuoted(text, pos, final);
      if (scanned === null) break;
      this.line += scanned.lines;
      pos = scanned.next;
      if (scanned.error) sink.error(line, scanned.error);
      else sink.record(record);
    }
    this.carry = pos < length ? text.subarray(pos) : EMPTY;
  }

  /**
   * The carried-over start of a record, then `chunk`: in a buffer kept from chunk to
   * chunk (a new one per chunk, a megabyte each, was most of the import's garbage).
   */
  private join(chunk: Buffer): Buffer {
    if (this.carry.length === 0) return chunk;
    const length = this.carry.length + chunk.length;
    if (this.work.length < length) {
      const grown = Buffer.allocUnsafe(Math.max(length, 2 * this.work.length));
      grown.set(this.carry, 0);
      this.work = grown;
    } else {
      // The carry may lie in this very buffer: set() copies overlapping ranges correctly.
      this.work.set(this.carry, 0);
    }
    this.work.set(chunk, this.carry.length);
    return this.work.subarray(0, length);
  }

  end(sink: CsvSink): void {
    if (this.carry.length) this.push(EMPTY, sink, true);
    if (!this.headerSeen) throw new RefusedFile('the file is empty');
  }

  private checkHeader(text: Buffer, start: number, end: number): void {
    if (end - start >= 3 && text[start] === BOM[0] && text[start + 1] === BOM[1] && text[start + 2] === BOM[2]) start += 3;
    if (end - start !== HEADER_BYTES.length || HEADER_BYTES.compare(text, start, end) !== 0) {
      throw new RefusedFile('the first line is not the register header');
    }
    this.headerSeen = true;
  }

  /** Appends `text[from, to)` to the scratch buffer; returns where it starts there. */
  private toScratch(text: Buffer, from: number, to: number): void {
    const need = this.scratchPos + to - from;
    if (need > this.scratch.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
      this.scratch.copy(grown, 0, 0, this.scratchPos);
      this.scratch = grown;
    }
    text.copy(this.scratch, this.scratchPos, from, to);
    this.scratchPos = need;
  }

  /**
   * RFC 4180 scan of one record from `start` into this.record. Returns the index after
   * the record's line break and the lines it spans, with an error (then `next` is the
   * next line), or null when the text ends inside the record (more input needed).
   */
  private scanQuoted(text: Buffer, start: number, final: boolean): { next: number; lines: number; error?: string } | null {
    const record = this.record;
    const length = text.length;
    let i = start;
    let lines = 1;
    const nextLine = (from: number) => {
      const nl = text.indexOf(LF, from);
      return nl === -1 ? length : nl + 1;
    };
    for (;;) {
      if (text[i] === QUOTE) {
        let from = i + 1;
        let scratchStart = -1;
        for (;;) {
          const q = text.indexOf(QUOTE, from);
          if (q === -1) {
            if (!final && length - start <= MAX_RECORD_BYTES) return null;
            return { error: 'has an unterminated quoted field', next: nextLine(start), lines };
          }
          for (let k = from; k < q; k++) if (text[k] === LF) lines++;
          if (text[q + 1] === QUOTE) {
            // A doubled quote: the field is assembled in the scratch buffer.
            if (scratchStart === -1) scratchStart = this.scratchPos;
            this.toScratch(text, from, q + 1);
            from = q + 2;
            continue;
          }
          if (q + 1 >= length && !final) return null;
          if (scratchStart === -1) record.add(text, i + 1, q);
          else {
            this.toScratch(text, from, q);
            record.add(this.scratch, scratchStart, this.scratchPos);
          }
          i = q + 1;
          break;
        }
      } else {
        let j = i;
        for (; j < length; j++) {
          const c = text[j];
          if (c === COMMA || c === LF) break;
          if (c === QUOTE) {
            const nl = text.indexOf(LF, j);
            if (nl === -1 && !final) return null;
            return { error: 'has a quote inside an unquoted field', next: nl === -1 ? length : nl + 1, lines };
          }
        }
        if (j >= length && !final) return null;
        let end = j;
        if (end > i && text[end - 1] === CR && (j >= length || text[j] === LF)) end--;
        record.add(text, i, end);
        i = j;
      }
      const c = text[i];
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c === CR && text[i + 1] === LF) i++;
      if (i >= length) return { next: length, lines };
      if (text[i] === LF) return { next: i + 1, lines };
      const nl = text.indexOf(LF, i);
      if (nl === -1 && !final) return null;
      return { error: 'has characters after a closing quote', next: nl === -1 ? length : nl + 1, lines };
    }
  }
}

/**
 * NDJSON: one object per line. The first non-empty line must be an object of the
 * layout, or the file is refused (a register file is never "all bad rows").
 */
export class NdjsonSplitter {
  private carry = '';
  private line = 1;
  private firstSeen = false;

  push(chunk: string, out: ParsedRecord[], final = false): void {
    const text = this.carry.length ? this.carry + chunk : chunk;
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos);
      if (nl === -1 && !final) break;
      const lineEnd = nl === -1 ? text.length : nl;
      let raw = text.slice(pos, lineEnd);
      pos = lineEnd + 1;
      const line = this.line++;
      if (!this.firstSeen && raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1);
      if (raw.trim().length === 0) continue;
      let parsed: unknown;
      let fields: string[] | RowError;
      try {
        parsed = JSON.parse(raw);
        fields = ndjsonFields(parsed);
      } catch {
        fields = { reason: 'is not valid JSON' };
      }
      if (!this.firstSeen) {
        if (!Array.isArray(fields)) throw new RefusedFile('the first line is not a register record (JSON object of the layout)');
        this.firstSeen = true;
      }
      out.push(Array.isArray(fields) ? { line, fields } : { line, error: fields });
    }
    this.carry = pos < text.length ? text.slice(pos) : '';
  }

  end(out: ParsedRecord[]): void {
    if (this.carry.length) this.push('', out, true);
    if (!this.firstSeen) throw new RefusedFile('the file is empty');
  }
}

export type RegisterFormat = 'csv' | 'ndjson';
export type RegisterEncoding = 'auto' | 'utf-8' | 'shift_jis';

/** Binary content: a NUL byte never occurs in a text register. */
export function looksBinary(head: Buffer): boolean {
  return head.subarray(0, 65536).includes(0);
}

/** auto: UTF-8 unless the first 64 KiB are not valid UTF-8 (a cut last character is fine). */
export function detectEncoding(head: Buffer): 'utf-8' | 'shift_jis' {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, 65536), { stream: true });
    return 'utf-8';
  } catch {
    return 'shift_jis';
  }
}

/**
 * What the first bytes of an upload tell: the reason to refuse it, or null when it may
 * be a register (the rows are checked by the import). `complete`: `head` is the whole
 * file, so an empty one is refused too.
 */
export function sniffRefusal(head: Buffer, format: RegisterFormat, encoding: RegisterEncoding, complete: boolean): string | null {
  if (head.length === 0) return 'the file is empty';
  if (looksBinary(head)) return 'the file is binary, not a register';
  const actual = encoding === 'auto' ? detectEncoding(head) : encoding;
  let rows = 0;
  try {
    if (format === 'csv') {
      const bytes = actual === 'utf-8' ? head : Buffer.from(iconv.getDecoder('cp932').write(head));
      const splitter = new CsvSplitter();
      const sink: CsvSink = { line: () => false, record: () => void rows++, error: () => void rows++ };
      splitter.push(bytes, sink);
      if (complete) splitter.end(sink);
    } else {
      const text = actual === 'utf-8' ? new TextDecoder('utf-8', { fatal: false }).decode(head, { stream: !complete }) : iconv.getDecoder('cp932').write(head);
      const splitter = new NdjsonSplitter();
      const records: ParsedRecord[] = [];
      splitter.push(text, records);
      if (complete) splitter.end(records);
      rows = records.length;
    }
  } catch (error) {
    if (error instanceof RefusedFile) return error.message;
    throw error;
  }
  return complete && rows === 0 ? 'the file has no rows' : null;
}
