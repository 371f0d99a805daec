import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { linkageBody, startTestApp, TestApp, TestInstitution } from './support/test-app.js';
import { validMyNumber } from './support/my-numbers.js';
import {
  bodyText,
  JsonOperation,
  jsonOperations,
  mutate,
  mutationArb,
  myNumbersIn,
  OpenApiDocument,
  transportArb,
  validValue,
} from './support/openapi-fuzz.js';

/**
 * Structural fuzzing of every JSON endpoint the app documents: bodies generated from
 * the OpenAPI schemas, then mutated (any node replaced by any JSON value, wrapped in
 * arrays, nested thousands deep, removed, extra and prototype-named members, long
 * strings and arrays, damaged text, other content types). Whatever is sent: never a
 * 5xx, every 4xx is problem+json with a `code`, and no My Number that was sent comes
 * back, in any answer.
 *
 * FUZZ_RUNS (runs per endpoint, default 500: about 30 s on 2 shared cores) and FUZZ_SEED (to replay a failure: the
 * seed is printed with it) tune the run, FUZZ_PATHS (a RegExp on `POST /v1/path`)
 * narrows it to some operations; FUZZ_LOG=<file> appends each request to that
 * file before it is sent (for a request that takes the process down).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(process.env.FUZZ_SEED);

/**
 * The only 5xx a request may meet on purpose: the peer's own GET /v1/node could not be
 * fetched when a peer is registered (an upstream failure, not the caller's input).
 */
const UPSTREAM_CODES = new Set(['PEER_KEYS_UNAVAILABLE']);

describe('structurally mutated bodies on every JSON endpoint', () => {
  let t: TestApp;
  let bank: TestInstitution;
  let operations: JsonOperation[];
  let doc: OpenApiDocument;
  const ids: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    bank = await t.createInstitution('0005');
    await t.createInstitution('0009');
    const linkage = await t.http.post('/v1/linkages').set(bank.auth).send(linkageBody(validMyNumber(424242))).expect(201);
    ids.push(linkage.body.id);
    doc = (await t.http.get('/docs/openapi.json').expect(200)).body as OpenApiDocument;
    operations = jsonOperations(doc).filter((o) => !process.env.FUZZ_PATHS || new RegExp(process.env.FUZZ_PATHS).test(`${o.method.toUpperCase()} ${o.path}`));
    // eslint-disable-next-line no-console
    console.log(`body fuzz: seed ${SEED}, ${RUNS} runs on each of ${operations.length} JSON operations`);
  });

  afterAll(async () => {
    await t?.close();
  });

  /** Path parameters: mostly ones that exist, sometimes unknown or garbage. */
  const pathParam = (name: string): fc.Arbitrary<string> =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(name === 'code' ? bank.code : name === 'nodeId' ? 'kouza-hub.shinkin-centre.example' : ids[0]) },
      { weight: 1, arbitrary: fc.constant(randomUUID()) },
      { weight: 1, arbitrary: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.nat().map((n) => validMyNumber(n))) },
    );

  /** The operator key for admin routes, the institution's (every scope) for the others. */
  async function authFor(operation: JsonOperation): Promise<Record<string, string>> {
    const path = operation.path.replace(/\{[^}]+\}/g, (m) => (m === '{code}' ? bank.code : ids[0]));
    for (const auth of [bank.auth, t.admin]) {
      const res = await t.http[operation.method](path).set(auth).send({});
      if (res.status !== 401 && res.status !== 403) return auth;
    }
    return t.admin;
  }

  it('never answer 5xx, always problem+json with a code, never echo a My Number', async () => {
    if (!process.env.FUZZ_PATHS) expect(operations.length).toBeGreaterThanOrEqual(10);
    const failures: string[] = [];
    for (const operation of operations) {
      const auth = await authFor(operation);
      const params = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const request = fc.record({
        params: fc.tuple(...params.map(pathParam)),
        body: fc.oneof(
          { weight: 1, arbitrary: validValue(doc, operation.schema).map((b) => ({ b })) },
          {
            weight: 4,
            arbitrary: fc
              .tuple(validValue(doc, operation.schema), fc.array(fc.tuple(fc.nat(), mutationArb), { minLength: 1, maxLength: 3 }))
              .map(([body, steps]) => ({
                b: steps.reduce<ReturnType<typeof mutate>>((b, [pick, m]) => (b === undefined ? b : mutate(b, pick, m)), body),
              })),
          },
        ),
        transport: transportArb,
        idempotencyKey: fc.option(fc.constantFrom('fuzz-key-00000001', 'fuzz-key-00000002', 'bad key!'), { nil: undefined }),
      });
      try {
        await fc.assert(
          fc.asyncProperty(request, async ({ params, body, transport, idempotencyKey }) => {
            let i = 0;
            const path = operation.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[i++]));
            const text = bodyText(body.b, transport);
            if (process.env.FUZZ_LOG) appendFileSync(process.env.FUZZ_LOG, `${operation.method} ${path} ${JSON.stringify(transport)} ${text.slice(0, 2000)}\n`);
            let req = t.http[operation.method](path).set(auth);
            if (idempotencyKey) req = req.set('Idempotency-Key', idempotencyKey);
            if (transport.contentType) req = req.set('Content-Type', transport.contentType);
            const logged = t.logs.lines.length;
            const res = await (text === '' ? req : req.send(text));
            // A 5xx: what the app logged for it (redacted by the app's logger) says why.
            const why = res.status >= 500 ? `: ${t.logs.lines.slice(logged).join('').slice(0, 2000)}` : '';
            const where = `${operation.method.toUpperCase()} ${path} -> ${res.status}${why}`;
            expect({ where, status: res.status < 500 || UPSTREAM_CODES.has(res.body?.code) }).toEqual({ where, status: true });
            if (res.status >= 400) {
              expect({ where, type: res.headers['content-type'] }).toEqual({ where, type: expect.stringMatching(/^application\/problem\+json/) });
              expect({ where, code: typeof res.body.code }).toEqual({ where, code: 'string' });
            }
            const answer = res.text + JSON.stringify(res.headers);
            for (const number of myNumbersIn(text)) {
              expect({ where, echoed: answer.includes(number) }).toEqual({ where, echoed: false });
            }
          }),
          { numRuns: RUNS, seed: SEED, endOnFailure: true },
        );
      } catch (error) {
        const cause = (error as Error).cause as Error | undefined;
        failures.push(`${operation.method.toUpperCase()} ${operation.path} (FUZZ_SEED=${SEED}):\n${cause?.message ?? ''}\n${(error as Error).message.slice(0, 3000)}`);
      }
      // An operation may have left state that would mask the next ones' answers (a tiny
      // rate limit on the institution's keys: every later request a 429).
      await t.http.delete(`/v1/institutions/${bank.code}/rate-limit`).set(t.admin);
    }
    expect(failures).toEqual([]);
    // And none of what was sent reached the logs in clear.
    for (const number of myNumbersIn(t.logs.text)) expect(number).toBe('never in a log line');
  }, 600_000);
});
