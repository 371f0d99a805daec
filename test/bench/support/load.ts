import autocannon from 'autocannon';

export interface LoadResult {
  /** Seconds measured. */
  durationS: number;
  /** Successful operations (2xx for HTTP). */
  ok: number;
  /** Latency of each success, ms. */
  latenciesMs: number[];
  /** Failures by kind: HTTP status, `error`, `timeout`. */
  failures: Record<string, number>;
  /** First few failure bodies or messages, to tell what went wrong. */
  failureSamples: string[];
}

const MAX_SAMPLES = 3;

/**
 * Closed-loop HTTP load: `connections` keep-alive connections, each sending the next
 * request as soon as the previous answer arrives, for `durationS` seconds. `body` is
 * called for every request, so each one can carry new data. Latencies are taken
 * per response at full resolution (autocannon's own histogram keeps whole ms).
 */
export function runHttpLoad(opts: {
  url: string;
  connections: number;
  durationS: number;
  method: 'POST' | 'PUT' | 'GET';
  path: string;
  headers: Record<string, string>;
  body?: () => string;
}): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const failureSamples: string[] = [];
  const body = opts.body;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.durationS,
        requests: [
          {
            method: opts.method,
            path: opts.path,
            headers: opts.headers,
            ...(body && { setupRequest: (request: autocannon.Request) => ({ ...request, body: body() }) }),
            onResponse: (status: number, responseBody: string) => {
              if ((status < 200 || status > 299) && failureSamples.length < MAX_SAMPLES) {
                failureSamples.push(`${status} ${responseBody.slice(0, 500)}`);
              }
            },
          },
        ],
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const failures: Record<string, number> = {};
        for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {})) {
          if (!status.startsWith('2')) failures[status] = count ?? 0;
        }
        if (result.errors - result.timeouts > 0) failures.error = result.errors - result.timeouts;
        if (result.timeouts > 0) failures.timeout = result.timeouts;
        resolve({ durationS: result.duration, ok: result['2xx'], latenciesMs, failures, failureSamples });
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseTimeMs: number) => {
      if (status >= 200 && status <= 299) latenciesMs.push(responseTimeMs);
    });
  });
}

/**
 * Closed-loop load without HTTP: `concurrency` async loops, each awaiting
 * `operation()` again and again until `durationS` has passed. A failing operation is
 * counted, not retried.
 */
export async function runLoops(opts: {
  concurrency: number;
  durationS: number;
  operation: () => Promise<void>;
}): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const failures: Record<string, number> = {};
  const failureSamples: string[] = [];
  const started = performance.now();
  const deadline = started + opts.durationS * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await opts.operation();
        latenciesMs.push(performance.now() - t0);
      } catch (error) {
        failures.error = (failures.error ?? 0) + 1;
        if (failureSamples.length < MAX_SAMPLES) failureSamples.push((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  return {
    durationS: (performance.now() - started) / 1000,
    ok: latenciesMs.length,
    latenciesMs,
    failures,
    failureSamples,
  };
}

/**
 * Runs `operation` once per item, `concurrency` at a time; results in item order.
 * The first failure rejects (after the operations in flight have settled).
 */
export async function mapConcurrently<T, R>(items: readonly T[], concurrency: number, operation: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: unknown;
  const loop = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await operation(items[index], index);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, loop));
  if (failure !== undefined) throw failure;
  return results;
}
