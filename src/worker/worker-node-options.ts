/**
 * Node options the worker process runs with, wherever it is started: `npm start` (which
 * forks it with these), `npm run start:worker` and the compose file's workers (which spell
 * them out; worker-node-options.spec.ts checks that they do), and the benchmark.
 *
 * The heap limit: a fan-out seals a ~100 KB message per node and keeps a few hundred in
 * flight, and left alone V8 let the worker's heap grow to ~260 MB around a live set of
 * ~70 MB (`--trace-gc` over `npm run bench -- inquiries`), for a peak RSS of 420–445 MB
 * on a 24 GiB machine (V8 sizes its default limit by the machine's memory). With a limit
 * of 384 MB (or 256, or 160: the same) V8 collects sooner: peak RSS 260–285 MB, for more
 * of the worker's CPU in a burst (docs/benchmarks.md, 2026-12-03). A live set near the
 * limit would end the process (its jobs are retried elsewhere): the largest settings
 * (PEER_BATCH_SIZE 1,000 with PEER_CONCURRENCY 256) keep about 130 MB of messages in
 * flight.
 *
 * They go in NODE_OPTIONS before the operator's own, so that a worker started with
 * NODE_OPTIONS=--max-old-space-size=N gets N (the later of two flags wins; a flag on
 * the command line would win over NODE_OPTIONS).
 */
export const WORKER_NODE_OPTIONS: readonly string[] = ['--max-old-space-size=384'];

/** NODE_OPTIONS for the worker: WORKER_NODE_OPTIONS, then what the environment already says. */
export function workerNodeOptions(inherited: string | undefined): string {
  return [...WORKER_NODE_OPTIONS, inherited?.trim()].filter(Boolean).join(' ');
}
