import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** How much of the log's end is read for its newest checkpoint (a line is about 400 bytes). */
const TAIL_BYTES = 64 * 1024;

/**
 * The checkpoint log (AUDIT_CHECKPOINT_FILE): one signed checkpoint (compact JWS) per
 * line, appended and never rewritten. Outside the database on purpose: whoever can
 * rewrite the audit tables should not be able to rewrite this file too (put it on
 * storage they cannot write, e.g. an append-only (`chattr +a`) file or a volume of
 * another administrator); the witnesses cover the case where they can.
 */
export class AuditCheckpointLog {
  constructor(readonly file: string) {}

  /** Appends one line (O_APPEND: concurrent writers never interleave within a line) and syncs it. */
  append(jws: string): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const fd = openSync(this.file, 'a', 0o600);
    try {
      writeSync(fd, `${jws}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The log's last lines, newest first (up to TAIL_BYTES of them): the caller takes the
   * first that verifies. None when the file is missing or empty.
   */
  newestLines(): string[] {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    try {
      const size = fstatSync(fd).size;
      const length = Math.min(size, TAIL_BYTES);
      const buffer = Buffer.alloc(length);
      readSync(fd, buffer, 0, length, size - length);
      const lines = buffer.toString('utf8').split('\n');
      // The first may be cut by the tail window: only whole lines count.
      if (length < size) lines.shift();
      return lines.map((l) => l.trim()).filter(Boolean).reverse();
    } finally {
      closeSync(fd);
    }
  }
}
