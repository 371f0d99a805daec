import { redactMyNumbers } from '../../src/common/my-number/my-number.js';
import { fmt, printTable } from './support/report.js';

/**
 * The log redaction's cost per line (it runs on every line the API and the worker
 * write): MY_NUMBER_LIKE, which knows the spellings people type, against the plain
 * twelve-ASCII-digit pattern it replaced, on lines shaped like the service's own.
 * In-process, no database: `npm run build && node dist/test/bench/run.js redaction`.
 */

const PLAIN = /(?<![0-9])[0-9]{12}(?![0-9])/g;
function redactPlain(line: string): string {
  PLAIN.lastIndex = 0;
  return PLAIN.test(line) ? line.replace(PLAIN, '[redacted-12-digits]') : line;
}

const LINES: Record<string, string> = {
  'request (ASCII)':
    '{"level":30,"time":"2026-12-02T15:27:21.123Z","pid":12345,"hostname":"kouza-hub-7d9f8b","service":"kouza-hub",' +
    '"req":{"id":"3f2a1c9e-4b7d-4e2a-9c1f-0a1b2c3d4e5f","method":"POST","url":"/v1/linkages","remoteAddress":"127.0.0.1"},' +
    '"res":{"statusCode":201},"responseTime":12.345,"msg":"request completed"}\n',
  'worker (ASCII)':
    '{"level":30,"time":"2026-12-02T15:27:21.123Z","pid":12345,"service":"kouza-hub","inquiryId":"3f2a1c9e-4b7d-4e2a-9c1f-0a1b2c3d4e5f",' +
    '"nodes":3,"answered":2,"msg":"inquiry fanned out to 3 nodes, 2 answered, batch 42 of 100, took 1234 ms"}\n',
  'error with stack (ASCII)':
    '{"level":50,"time":"2026-12-02T15:27:21.123Z","err":{"type":"QueryFailedError","message":"duplicate key value violates unique constraint",' +
    '"stack":"QueryFailedError: duplicate key\\n    at PostgresQueryRunner.query (/app/node_modules/typeorm/driver/postgres/PostgresQueryRunner.js:299:19)' +
    '\\n    at async LinkagesRepository.attach (/app/dist/src/linkages/linkages.repository.js:143:22)"},"msg":"failed"}\n',
  'Japanese text, no number':
    '{"level":40,"time":"2026-12-02T15:27:21.123Z","msg":"住所 東京都千代田区霞が関１丁目２番３号 ヤマダ タロウ 電話 ０９０－１２３４－５６７８"}\n',
  'one number, full-width in groups':
    '{"level":40,"time":"2026-12-02T15:27:21.123Z","msg":"メモ: １２３４－５６７８－９０１８ を確認"}\n',
};

const ITERATIONS = Number(process.env.BENCH_REDACTION_ITERATIONS ?? 200_000);

function nsPerLine(redact: (line: string) => string, line: string): number {
  for (let i = 0; i < 5_000; i++) redact(line);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) redact(line);
  return Number(process.hrtime.bigint() - start) / ITERATIONS;
}

export async function run(): Promise<void> {
  const rows: Array<Array<string | number>> = [];
  for (const [name, line] of Object.entries(LINES)) {
    // Best of three: the machine is shared.
    const plain = Math.min(...[0, 1, 2].map(() => nsPerLine(redactPlain, line)));
    const spelled = Math.min(...[0, 1, 2].map(() => nsPerLine(redactMyNumbers, line)));
    rows.push([name, line.length, fmt(plain, 0), fmt(spelled, 0), fmt(spelled / plain, 2)]);
  }
  printTable(['line', 'chars', 'plain ns/line', 'spellings ns/line', 'ratio'], rows);
}
