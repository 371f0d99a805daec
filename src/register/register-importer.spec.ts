import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { Decoder, type ImportProgress } from './register-importer.js';
import { RefusedFile } from './register-parser.js';

/** The Decoder's output for `bytes` fed in chunks of `size`. */
async function decode(bytes: Buffer, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  const progress: ImportProgress = { bytesRead: 0, bytesTotal: null, rowsRead: 0, rowsPerSecond: 0 };
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks, { objectMode: false }),
    new Decoder('utf-8', 'bytes', progress),
    new Writable({
      objectMode: true,
      write(chunk: Buffer, _enc, done) {
        out.push(chunk);
        done();
      },
    }),
  );
  expect(progress.bytesRead).toBe(bytes.length);
  return Buffer.concat(out);
}

describe('Decoder (UTF-8 passed through as bytes)', () => {
  const text = Buffer.from('ヤマダ,東京都\u{1F600},ﾀﾛｳ\nabc,é\n');

  it('passes valid UTF-8 through unchanged, whatever the chunk boundaries (inside characters too)', async () => {
    for (const size of [1, 2, 3, 4, 5, 7, 64]) expect(await decode(text, size)).toEqual(text);
  });

  it('refuses invalid bytes anywhere, and a file that ends inside a character', async () => {
    const broken = Buffer.concat([text.subarray(0, 10), Buffer.from([0xff]), text.subarray(10)]);
    const overlong = Buffer.concat([text, Buffer.from([0xc0, 0x80])]);
    const cut = text.subarray(0, 2); // the first two of ヤ's three bytes
    const stray = Buffer.concat([Buffer.from([0xe3, 0x82]), Buffer.from('a')]); // a character cut short inside the file
    for (const size of [1, 2, 3, 5, 64]) {
      await expect(decode(broken, size)).rejects.toThrow(RefusedFile);
      await expect(decode(overlong, size)).rejects.toThrow(RefusedFile);
      await expect(decode(cut, size)).rejects.toThrow('it ends inside a character');
      await expect(decode(stray, size)).rejects.toThrow(RefusedFile);
    }
  });
});
