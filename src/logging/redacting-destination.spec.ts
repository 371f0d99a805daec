import { describe, expect, it } from '@jest/globals';
import type { DestinationStream } from 'pino';
import pino from 'pino';
import { loggedUrl } from './logging.module.js';
import { redactingDestination } from './redacting-destination.js';

function capture(): { lines: string[]; stream: DestinationStream } {
  const lines: string[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(line) } };
}

/** The spellings of 123456789018 a teller or a driver error could put in a log line. */
const SPELLINGS = [
  '123456789018',
  '１２３４５６７８９０１８',
  '1234-5678-9018',
  '1234 5678 9018',
  '１２３４－５６７８－９０１８',
  '1234ー5678ー9018',
  '１２３４\u3000５６７８\u3000９０１８',
  '1234‐5678‐9018',
  '1234−5678−9018',
];

describe('redactingDestination', () => {
  it.each(SPELLINGS)('removes %s from every part of a pino line', (typed) => {
    const out = capture();
    const logger = pino({ base: null }, redactingDestination(out.stream));
    logger.info({ note: `メモ ${typed}`, err: new Error(`duplicate key (${typed})`) }, `attached ${typed}`);
    expect(out.lines).toHaveLength(1);
    const line = out.lines[0];
    expect(line).not.toContain(typed);
    expect(line.normalize('NFKC').replace(/[\s\-ー‐−]/g, '')).not.toContain('123456789018');
    expect(line.match(/\[redacted-12-digits\]/g)?.length).toBeGreaterThanOrEqual(4);
    // The line is still the JSON it was.
    expect(JSON.parse(line)).toMatchObject({ msg: 'attached [redacted-12-digits]', note: 'メモ [redacted-12-digits]' });
  });

  it('leaves a line without one as it is', () => {
    const out = capture();
    const destination = redactingDestination(out.stream);
    const line = '{"level":30,"time":1764150000000,"reqId":"8a6e0f2e-2b7a-4c47-9d7e-3f1f1f6f0a01","msg":"tel 090-1234-5678"}\n';
    destination.write(line);
    expect(out.lines).toEqual([line]);
  });
});

describe('loggedUrl', () => {
  it('decodes and redacts a query that carries a number in another spelling', () => {
    for (const typed of SPELLINGS) {
      const url = `/v1/linkages?branchCode=001&accountNumber=${encodeURIComponent(typed)}`;
      expect(loggedUrl(url)).toBe('/v1/linkages?branchCode=001&accountNumber=[redacted-12-digits]');
    }
    expect(loggedUrl('/v1/x?q=1234+5678+9018')).toBe('/v1/x?q=[redacted-12-digits]');
    expect(loggedUrl('/v1/x?q=%zz%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94-5678-9018')).toBe('/v1/x?q=%zz[redacted-12-digits]');
  });

  it('keeps any other URL as it came', () => {
    for (const url of ['/v1/linkages/8a6e0f2e-2b7a-4c47-9d7e-3f1f1f6f0a01', '/v1/x?name=%E5%B1%B1%E7%94%B0', '/v1/x?q=%zz', '/v1/x?tel=090-1234-5678']) {
      expect(loggedUrl(url)).toBe(url);
    }
  });
});
