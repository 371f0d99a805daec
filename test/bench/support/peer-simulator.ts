import { join } from 'node:path';
import type { NodeRegistration, SimulatorStats } from '../../../src/simulator/simulator.js';
import { cleanup } from './cleanup.js';
import type { BenchApi } from './kouza-api.js';
import { mapConcurrently } from './load.js';
import { REPO_ROOT } from './report.js';
import { benchPortBase, findFreePort, getJson, postJson, startProcess, type ChildService } from './service-process.js';

export interface BenchSimulator {
  process: ChildService;
  url: string;
  stats(): Promise<SimulatorStats>;
  resetStats(): Promise<void>;
}

/**
 * The peer-node simulator as its CLI runs it (dist/src/simulator/cli.js), in a process
 * of its own: its CPU is not the bench driver's, and the worker's RSS is the worker's
 * alone. It answers messages signed by the API's node (GET /v1/node). Extra node flags
 * (e.g. --cpu-prof) come from BENCH_SIMULATOR_NODE_ARGS. Stopped by the cleanup.
 */
export async function startBenchSimulator(api: BenchApi, opts: { nodes: number; latencyMs: number }): Promise<BenchSimulator> {
  const port = await findFreePort(benchPortBase() + 200);
  const args = ['--nodes', String(opts.nodes), '--latency-ms', String(opts.latencyMs), '--port', String(port), '--trust', `${api.process.baseUrl}/v1/node`,
    // The benchmark's inquiries name this subject (inquiries.bench.ts): every simulated number is theirs.
    '--holder-name', 'ヤマダ タロウ', '--holder-birth-date', '1940-04-01'];
  const sim = await startProcess({
    label: 'simulator',
    script: join(REPO_ROOT, 'dist/src/simulator/cli.js'),
    args,
    env: process.env,
    nodeArgs: process.env.BENCH_SIMULATOR_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [],
    readyLine: 'peer-node simulator:',
    // Key generation for thousands of nodes takes a while on a slow machine.
    startTimeoutMs: 120_000,
  });
  cleanup.add('stop the simulator', () => sim.stop());
  const url = `http://127.0.0.1:${port}`;
  return {
    process: sim,
    url,
    stats: () => getJson<SimulatorStats>(`${url}/stats`),
    resetStats: async () => void (await postJson(`${url}/stats/reset`, undefined)),
  };
}

/** Registers every simulated node at the API (POST /v1/peers), a few at a time; returns how many. */
export async function registerSimulatedPeers(api: BenchApi, sim: BenchSimulator, concurrency = 8): Promise<number> {
  const manifest = await getJson<NodeRegistration[]>(`${sim.url}/manifest`);
  await mapConcurrently(manifest, concurrency, (node) => postJson(`${api.process.baseUrl}/v1/peers`, node, api.adminKey));
  return manifest.length;
}
