import type { LoadResult } from './load.js';
import { measureCpu, sampleRss, type CpuShare } from './proc.js';
import { fmt } from './report.js';
import { summarizeLatencies } from './stats.js';

/** What one concurrency level measured. */
export interface Level {
  concurrency: number;
  /** Successful operations per second. */
  rate: number;
  ok: number;
  durationS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  cpu: CpuShare;
  /** Peak RSS of the service process during the level (warm-up included). */
  peakRssMb?: number;
}

/** Drives one level; `close` releases what it holds (e.g. a pool sized for it). */
export interface LevelDriver {
  run(durationS: number): Promise<LoadResult>;
  close?(): Promise<void>;
}

/** Any failed operation makes the numbers meaningless: stop the run, saying why. */
export function assertNoFailures(what: string, result: LoadResult): void {
  if (Object.keys(result.failures).length === 0) return;
  throw new Error(
    `${what}: ${result.ok} succeeded but there were failures ${JSON.stringify(result.failures)}\n` +
      result.failureSamples.map((s) => `  e.g. ${s}`).join('\n'),
  );
}

/**
 * Each concurrency in turn: a warm-up (not measured, so that connections, JIT and
 * caches are ready), then the measured run with the CPU of `servicePid`, Postgres and
 * this process, and the service's RSS. Returns the levels and every success, warm-ups
 * included (to check against the rows written).
 */
export async function runLevels(opts: {
  label: string;
  concurrencies: number[];
  durationS: number;
  warmupS: number;
  database: string;
  servicePid?: number;
  driver: (concurrency: number) => LevelDriver;
}): Promise<{ levels: Level[]; totalOk: number }> {
  const levels: Level[] = [];
  let totalOk = 0;
  for (const concurrency of opts.concurrencies) {
    const driver = opts.driver(concurrency);
    try {
      const rss = opts.servicePid !== undefined ? sampleRss(opts.servicePid) : undefined;
      const warmup = await driver.run(opts.warmupS);
      assertNoFailures(`${opts.label} warm-up at concurrency ${concurrency}`, warmup);
      const cpu = measureCpu({ database: opts.database, apiPid: opts.servicePid });
      const result = await driver.run(opts.durationS);
      const cpuShare = cpu.stop();
      const peakRssKb = rss?.stop();
      assertNoFailures(`${opts.label} at concurrency ${concurrency}`, result);
      totalOk += warmup.ok + result.ok;
      const latency = summarizeLatencies(result.latenciesMs);
      const level: Level = {
        concurrency,
        rate: result.ok / result.durationS,
        ok: result.ok,
        durationS: result.durationS,
        p50Ms: latency.p50,
        p99Ms: latency.p99,
        maxMs: latency.max,
        cpu: cpuShare,
        ...(peakRssKb !== undefined && { peakRssMb: peakRssKb / 1024 }),
      };
      levels.push(level);
      console.log(
        `${opts.label.padEnd(8)} c=${concurrency}: ${fmt(level.rate)}/s  p50 ${fmt(level.p50Ms, 2)} ms  p99 ${fmt(level.p99Ms, 2)} ms` +
          (level.peakRssMb !== undefined ? `  RSS ≤ ${fmt(level.peakRssMb)} MB` : '') +
          `  CPU${cpuShare.apiPct !== undefined ? ` service ${fmt(cpuShare.apiPct, 0)}%` : ''}` +
          ` pg ${fmt(cpuShare.postgresPct, 0)}% bench ${fmt(cpuShare.benchPct, 0)}% other ${fmt(cpuShare.otherPct, 0)}%`,
      );
    } finally {
      await driver.close?.();
    }
  }
  return { levels, totalOk };
}

/** The highest rate among levels whose p99 is within `maxP99Ms` (all levels when omitted). */
export function bestLevel(levels: Level[], maxP99Ms = Infinity): Level | undefined {
  return levels.filter((l) => l.p99Ms <= maxP99Ms).reduce<Level | undefined>((best, l) => (!best || l.rate > best.rate ? l : best), undefined);
}
