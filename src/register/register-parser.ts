import iconv from 'iconv-lite';
import { CSV_HEADER, ndjsonFields, type RowError } from './register-row.js';

/**
 * Splits decoded register text into records, with the line number each starts on.
 *
 * Hand-written rather than csv-parse, because of what was measured on the benchmark's
 * 1,000,000-row file (141 MB, 2 cores, Node 20): csv-parse alone (arrays, no
 * `columns`) parses 186,000 rows/s, 94,000 rows/s with `info` for line numbers, where
 * `psql \copy` of the same file loads 354,000 rows/s; parsing alone would have spent
 * the whole budget. This splitter takes the common line without a quote with one
 * `split(',')` and falls back to an RFC 4180 scan (quoted fields, doubled quotes,
 * line breaks inside quotes) only for lines that hold a quote.
 */

export type ParsedRecord = { line: number; fields: string[] } | { line: number; error: RowError };

export class RefusedFile extends Error {
  override name = 'RefusedFile';
}

/**
 * A record longer than this is an error, not a reason to wait for more input: an
 * unterminated quote or a file without line breaks must not pull the rest of the file
 * into memory. A register row is a few hundred characters.
 */
export const MAX_RECORD_CHARS = 64 * 1024;

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/**
 * RFC 4180 scan of one record from `start`. Returns the fields and the index after
 * the record's line break, `null` when the text ends inside the record (more input
 * needed), or an error with the index to resume at (the next line).
 */
function scanQuoted(
  text: string,
  start: number,
  final: boolean,
): { fields: string[]; next: number; lines: number } | { error: string; next: number; lines: number } | null {
  const fields: string[] = [];
  let i = start;
  let lines = 1;
  for (;;) {
    if (text.charCodeAt(i) === QUOTE) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1) {
          if (!final && text.length - start <= MAX_RECORD_CHARS) return null;
          const nl = text.indexOf('\n', start);
          return { error: 'has an unterminated quoted field', next: nl === -1 ? text.length : nl + 1, lines };
        }
        value += text.slice(from, q);
        for (let k = from; k < q; k++) if (text.charCodeAt(k) === LF) lines++;
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          from = q + 2;
          continue;
        }
        if (q + 1 >= text.length && !final) return null;
        i = q + 1;
        break;
      }
      fields.push(value);
    } else {
      let j = i;
      for (; j < text.length; j++) {
        const c = text.charCodeAt(j);
        if (c === COMMA || c === LF) break;
        if (c === QUOTE) {
          const nl = text.indexOf('\n', j);
          if (nl === -1 && !final) return null;
          return { error: 'has a quote inside an unquoted field', next: nl === -1 ? text.length : nl + 1, lines };
        }
      }
      if (j >= text.length && !final) return null;
      let end = j;
      if (end > i && text.charCodeAt(end - 1) === CR && (j >= text.length || text.charCodeAt(j) === LF)) end--;
      fields.push(text.slice(i, end));
      i = j;
    }
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      i++;
      continue;
    }
    if (c === CR && text.charCodeAt(i + 1) === LF) i++;
    if (i >= text.length) return { fields, next: text.length, lines };
    if (text.charCodeAt(i) === LF) return { fields, next: i + 1, lines };
    const nl = text.indexOf('\n', i);
    if (nl === -1 && !final) return null;
    return { error: 'has characters after a closing quote', next: nl === -1 ? text.length : nl + 1, lines };
  }
}

/**
 * Incremental CSV splitter: push() decoded text, get the complete records; end() for
 * the last one. Line 1 must be the header (else RefusedFile); empty lines are skipped.
 */
export class CsvSplitter {
  private carry = '';
  private line = 1;
  private headerSeen = false;
  private skipping = false;

  push(chunk: string, out: ParsedRecord[], final = false): void {
    const text = this.carry.length ? this.carry + chunk : chunk;
    let pos = 0;
    // The next quote, looked up again only once passed (a scan per line would be quadratic).
    let quote = text.indexOf('"');
    while (pos < text.length) {
      if (this.skipping) {
        // The rest of an over-long line, already reported.
        const nl = text.indexOf('\n', pos);
        if (nl === -1) {
          pos = text.length;
          break;
        }
        this.skipping = false;
        pos = nl + 1;
        continue;
      }
      const nl = text.indexOf('\n', pos);
      if (nl === -1 && !final) {
        if (text.length - pos > MAX_RECORD_CHARS && this.headerSeen) {
          if (quote !== -1 && quote < pos) quote = text.indexOf('"', pos);
          const reason = quote === -1 ? `is longer than ${MAX_RECORD_CHARS} characters` : 'has an unterminated quoted field';
          out.push({ line: this.line++, error: { reason } });
          this.skipping = true;
          pos = text.length;
        }
        break;
      }
      const lineEnd = nl === -1 ? text.length : nl;
      if (quote !== -1 && quote < pos) quote = text.indexOf('"', pos);
      if (quote === -1 || quote > lineEnd) {
        let end = lineEnd;
        if (end > pos && text.charCodeAt(end - 1) === CR) end--;
        const raw = text.slice(pos, end);
        pos = lineEnd + 1;
        const line = this.line++;
        if (!this.headerSeen) {
          this.checkHeader(raw);
          continue;
        }
        if (raw.length === 0) continue;
        out.push({ line, fields: raw.split(',') });
        continue;
      }
      const scanned = scanQuoted(text, pos, final);
      if (scanned === null) break;
      const line = this.line;
      this.line += scanned.lines;
      pos = scanned.next;
      if (!this.headerSeen) throw new RefusedFile('the first line is not the register header');
      if ('error' in scanned) out.push({ line, error: { reason: scanned.error } });
      else out.push({ line, fields: scanned.fields });
    }
    this.carry = pos < text.length ? text.slice(pos) : '';
  }

  end(out: ParsedRecord[]): void {
    if (this.carry.length) this.push('', out, true);
    if (!this.headerSeen) throw new RefusedFile('the file is empty');
  }

  private checkHeader(raw: string): void {
    const header = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
    if (header !== CSV_HEADER) throw new RefusedFile('the first line is not the register header');
    this.headerSeen = true;
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
  const text =
    actual === 'utf-8'
      ? new TextDecoder('utf-8', { fatal: false }).decode(head, { stream: !complete })
      : iconv.getDecoder('cp932').write(head);
  const splitter = format === 'csv' ? new CsvSplitter() : new NdjsonSplitter();
  const records: ParsedRecord[] = [];
  try {
    splitter.push(text, records);
    if (complete) {
      splitter.end(records);
      if (records.length === 0) return 'the file has no rows';
    }
  } catch (error) {
    if (error instanceof RefusedFile) return error.message;
    throw error;
  }
  return null;
}
