/**
 * Rows in PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT binary)`), built
 * into large buffers. Binary rather than text COPY: the server reads each value as it
 * is stored (a date as its day number, text as its bytes) instead of parsing it, and
 * text needs no escaping. Measured on the register benchmark's million rows (2 cores):
 * the server's side of the COPY takes 1.55 s where the same rows as text take 1.95 s.
 *
 * Format (PostgreSQL documentation, "COPY", binary format): a signature and two int32
 * header fields; per tuple an int16 field count, then per field an int32 byte length
 * (-1 for NULL) and the bytes, integers big-endian; an int16 -1 ends the data.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Days and microseconds are counted from 2000-01-01 (PostgreSQL's epoch). */
const PG_EPOCH_DAYS = 10_957;

/** Days since 2000-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function pgDate(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468 - PG_EPOCH_DAYS;
}

export class BinaryCopyWriter {
  private buf: Buffer;
  private pos = 0;

  /** `size`: bytes per buffer handed on (a row never spans two). */
  constructor(private readonly size = 512 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** The signature and header: first thing of the data. */
  header(): void {
    this.ensure(19);
    SIGNATURE.copy(this.buf, this.pos);
    this.buf.writeInt32BE(0, this.pos + 11); // flags
    this.buf.writeInt32BE(0, this.pos + 15); // header extension length
    this.pos += 19;
  }

  /** The end of the data. */
  trailer(): void {
    this.ensure(2);
    this.buf.writeInt16BE(-1, this.pos);
    this.pos += 2;
  }

  /** Starts a tuple of `fields` fields, with room for `bytes` more (an upper bound). */
  tuple(fields: number, bytes: number): void {
    this.ensure(2 + fields * 4 + bytes);
    this.buf.writeInt16BE(fields, this.pos);
    this.pos += 2;
  }

  int4(value: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = 0;
    b[p + 1] = 0;
    b[p + 2] = 0;
    b[p + 3] = 4;
    b[p + 4] = value >>> 24;
    b[p + 5] = value >>> 16;
    b[p + 6] = value >>> 8;
    b[p + 7] = value;
    this.pos = p + 8;
  }

  bool(value: boolean): void {
    this.buf.writeInt32BE(1, this.pos);
    this.buf[this.pos + 4] = value ? 1 : 0;
    this.pos += 5;
  }

  /** A date as days since 2000-01-01. */
  date(days: number): void {
    this.int4(days);
  }

  /** A timestamptz as microseconds since 2000-01-01 UTC. */
  timestamp(micros: bigint): void {
    this.buf.writeInt32BE(8, this.pos);
    this.buf.writeBigInt64BE(micros, this.pos + 4);
    this.pos += 12;
  }

  null(): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = b[p + 1] = b[p + 2] = b[p + 3] = 0xff;
    this.pos = p + 4;
  }

  /** A field's length, big-endian (the writers above and below, without writeInt32BE's checks). */
  private fieldLength(length: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = length >>> 24;
    b[p + 1] = length >>> 16;
    b[p + 2] = length >>> 8;
    b[p + 3] = length;
    this.pos = p + 4;
  }

  /** Text from UTF-8 bytes `src[start, end)`. */
  bytes(src: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.fieldLength(length);
    const b = this.buf;
    let p = this.pos;
    // A register's values (codes, numbers, addresses) byte by byte: cheaper than a
    // native copy call up to about this length.
    if (length < 160) for (let i = start; i < end; i++) b[p++] = src[i];
    else {
      b.set(src.subarray(start, end), p);
      p += length;
    }
    this.pos = p;
  }

  /** Text from an ASCII string (codes, type and status names). */
  ascii(value: string): void {
    this.fieldLength(value.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < value.length; i++) b[p++] = value.charCodeAt(i);
    this.pos = p;
  }

  /** Text from any string (UTF-8). */
  text(value: string): void {
    const written = this.buf.write(value, this.pos + 4, 'utf8');
    this.buf.writeInt32BE(written, this.pos);
    this.pos += 4 + written;
  }

  /** Room for `bytes` raw bytes at the returned offset; `advance` after writing them. */
  reserve(bytes: number): Buffer {
    this.ensure(bytes);
    return this.buf;
  }

  get offset(): number {
    return this.pos;
  }

  advance(to: number): void {
    this.pos = to;
  }

  /** Bytes written since the last take(). */
  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a new buffer is started). */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(this.size);
    this.pos = 0;
    return out;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    // Only a row larger than what is left: grow this buffer (rows are bounded in size).
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}
