import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A `VmRSS`/`VmHWM` line of /proc/<pid>/status in kB; undefined once the process is gone. */
export function readStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A process and all its descendants (the API may run several processes: API_PROCESSES). */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    for (const child of children ? children.split(/\s+/).map(Number) : []) out.push(...processTree(child));
  } catch {
    // gone
  }
  return out;
}

/** The field summed over a process tree (RSS of a multi-process service). */
export function readTreeKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  const values = processTree(pid).map((p) => readStatusKb(p, field)).filter((v): v is number => v !== undefined);
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
}

/**
 * Peak RSS over an interval: VmHWM is the peak over the whole life of the process,
 * so a per-phase peak has to be sampled.
 */
export function sampleRss(pid: number, intervalMs = 100): { stop(): number } {
  let peakKb = readTreeKb(pid, 'VmRSS') ?? 0;
  const timer = setInterval(() => {
    peakKb = Math.max(peakKb, readTreeKb(pid, 'VmRSS') ?? 0);
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peakKb, readTreeKb(pid, 'VmRSS') ?? 0);
    },
  };
}

/** CPU seconds of a process tree, by pid. */
function treeCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of processTree(pid)) {
    const seconds = cpuSeconds(p);
    if (seconds !== undefined) out.set(p, seconds);
  }
  return out;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** user + system CPU seconds of a process (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(pid: number | string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: count fields after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds per Postgres process that works for `database`: its client backends
 * (the process title names the database) and the server's own background processes
 * (WAL writer, checkpointer...). Backends of other databases, e.g. tests running
 * meanwhile, are left out.
 */
function postgresCpuSeconds(database: string | string[]): Map<string, number> {
  const databases = ([] as string[]).concat(database);
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const isClientBackend = /\(\d+\)|\[local\]/.test(title);
      if (isClientBackend && !databases.some((name) => title.includes(` ${name} `))) continue;
      const seconds = cpuSeconds(pid);
      if (seconds !== undefined) out.set(pid, seconds);
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/**
 * Busy CPU seconds of the whole machine (first line of /proc/stat; idle and iowait
 * left out, steal counted: time the hypervisor gave to others is lost to us too).
 */
function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / ticksPerSecond();
}

/** Pids of the processes named `comm` (e.g. redis-server), whoever started them. */
export function pidsByName(comm: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) out.push(Number(pid));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** Percent of one core over the interval (100 × cores = the whole machine). */
export interface CpuShare {
  apiPct?: number;
  postgresPct: number;
  benchPct: number;
  /** Per named process tree (`processes` of measureCpu). */
  processesPct: Record<string, number>;
  /** Everything else, kernel work included: a high value means something else was running. */
  otherPct: number;
}

/** CPU seconds of several process trees, by pid. */
function treesCpuSeconds(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) for (const [p, seconds] of treeCpuSeconds(pid)) out.set(p, seconds);
  return out;
}

/** Seconds used since `before` (processes started meanwhile count from zero). */
function secondsSince(before: Map<number | string, number>, after: Map<number | string, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/**
 * CPU used by the API child, Postgres (the backends of `database`, one name or several), this process and other named process trees
 * (e.g. the worker, the simulator, Redis) between start and stop.
 */
export function measureCpu(opts: { database: string | string[]; apiPid?: number; processes?: Record<string, number | number[]> }): { stop(): CpuShare } {
  const started = performance.now();
  const named = Object.entries({ ...(opts.apiPid !== undefined ? { api: opts.apiPid } : {}), ...opts.processes }).map(
    ([name, pids]) => ({ name, pids: ([] as number[]).concat(pids) }),
  );
  const before = named.map(({ pids }) => treesCpuSeconds(pids));
  const pg = postgresCpuSeconds(opts.database);
  const self = process.cpuUsage();
  const machine = machineBusySeconds();
  return {
    stop() {
      const wall = (performance.now() - started) / 1000;
      const pct = (seconds: number) => (100 * seconds) / wall;
      const pgSeconds = secondsSince(pg, postgresCpuSeconds(opts.database));
      const selfUsage = process.cpuUsage(self);
      const seconds = named.map(({ pids }, i) => secondsSince(before[i], treesCpuSeconds(pids)));
      const benchSeconds = (selfUsage.user + selfUsage.system) / 1e6;
      const namedSeconds = seconds.reduce((a, b) => a + b, 0);
      const otherSeconds = machineBusySeconds() - machine - namedSeconds - pgSeconds - benchSeconds;
      const processesPct: Record<string, number> = {};
      named.forEach(({ name }, i) => (processesPct[name] = pct(seconds[i])));
      const { api, ...others } = processesPct;
      return {
        apiPct: api,
        postgresPct: pct(pgSeconds),
        benchPct: pct(benchSeconds),
        processesPct: others,
        otherPct: pct(Math.max(0, otherSeconds)),
      };
    },
  };
}
