/** Run settings every suite shares, from the environment. */
export interface BenchSettings {
  concurrencies: number[];
  durationS: number;
  warmupS: number;
}

/** A positive number from the environment variable `name`, or `fallback`. */
export function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

export function benchSettings(defaults: { concurrencies: number[] }): BenchSettings {
  const list = process.env.BENCH_CONCURRENCIES;
  const concurrencies = list ? list.split(',').map((s) => Number(s.trim())) : defaults.concurrencies;
  if (concurrencies.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error(`BENCH_CONCURRENCIES must be positive integers separated by commas, got "${list}"`);
  }
  return {
    concurrencies,
    durationS: positive('BENCH_DURATION_SECONDS', 10),
    warmupS: positive('BENCH_WARMUP_SECONDS', 2),
  };
}
