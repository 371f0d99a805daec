import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { readTreeKb } from './proc.js';

/** The first port from `from` on that nothing listens on (other runs may hold some). */
/** Where the bench's own services look for free ports: BENCH_PORT_BASE (3900) for the API, +200 for the simulator. */
export function benchPortBase(): number {
  const base = Number(process.env.BENCH_PORT_BASE ?? 3900);
  if (!Number.isInteger(base) || base < 1024 || base > 65000) throw new Error(`BENCH_PORT_BASE ${process.env.BENCH_PORT_BASE} is not a port`);
  return base;
}

export async function findFreePort(from = 3900, host = '127.0.0.1'): Promise<number> {
  for (let port = from; port < from + 100; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, host, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${from}-${from + 99}`);
}

/** A child process of the bench: stopped with SIGTERM (then SIGKILL after 10 s). */
export interface ChildService {
  pid: number;
  /** SIGTERM, then waits for the exit; returns VmHWM (kB) read just before. Idempotent. */
  stop(): Promise<number | undefined>;
}

export interface ServiceProcess extends ChildService {
  baseUrl: string;
}

interface SpawnOptions {
  label: string;
  script: string;
  args?: string[];
  env: NodeJS.ProcessEnv;
  nodeArgs?: string[];
}

/**
 * Runs a built script (e.g. dist/src/main.js) as a child process, as production does.
 * Its output is passed on, prefixed, so that warnings and errors during a run are seen;
 * `onLine` sees every line too (start-up detection).
 */
function spawnService(opts: SpawnOptions, onLine?: (line: string) => void): ChildService & { exited(): boolean; exitStatus(): string } {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script, ...(opts.args ?? [])], {
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      process.stderr.write(`[${opts.label}] ${line}\n`);
      onLine?.(line);
    });
  }
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  let stopped: Promise<number | undefined> | undefined;
  return {
    pid: child.pid!,
    exited,
    exitStatus: () => String(child.signalCode ?? child.exitCode),
    stop() {
      stopped ??= (async () => {
        if (exited()) return undefined;
        const hwmKb = readTreeKb(child.pid!, 'VmHWM');
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exitedPromise;
        clearTimeout(killer);
        return hwmKb;
      })();
      return stopped;
    },
  };
}

/** Resolves once `isReady` holds, polled every 200 ms; stops the child if it exits or the time runs out. */
async function awaitStart(
  child: ReturnType<typeof spawnService>,
  opts: { label: string; startTimeoutMs?: number; what: string },
  isReady: () => boolean | Promise<boolean>,
): Promise<void> {
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exited()) throw new Error(`${opts.label} exited during start-up (${child.exitStatus()}); see its output above`);
    if (await isReady()) return;
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${opts.label} did not ${opts.what} within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** An HTTP service, started once GET <healthPath> answers 200. */
export async function startService(
  opts: SpawnOptions & { port: number; healthPath?: string; startTimeoutMs?: number },
): Promise<ServiceProcess> {
  const child = spawnService(opts);
  const baseUrl = `http://127.0.0.1:${opts.port}`;
  const healthUrl = baseUrl + (opts.healthPath ?? '/health');
  await awaitStart(child, { ...opts, what: `answer 200 on ${healthUrl}` }, async () => {
    try {
      const response = await fetch(healthUrl, { signal: AbortSignal.timeout(2000) });
      return response.status === 200;
    } catch {
      return false; // Not listening yet.
    }
  });
  return { pid: child.pid, stop: child.stop, baseUrl };
}

/**
 * A process without a health route (the worker, the simulator): started once it
 * prints a line containing `readyLine`.
 */
export async function startProcess(opts: SpawnOptions & { readyLine: string; startTimeoutMs?: number }): Promise<ChildService> {
  let ready = false;
  const child = spawnService(opts, (line) => (ready ||= line.includes(opts.readyLine)));
  await awaitStart(child, { ...opts, what: `print "${opts.readyLine}"` }, () => ready);
  return { pid: child.pid, stop: child.stop };
}

/** A JSON request expecting a 2xx JSON answer; `bearer` is the API key, if any. */
async function requestJson<T>(method: 'GET' | 'POST', url: string, body: unknown, bearer?: string): Promise<T> {
  const headers: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** POST a JSON body, expecting a 2xx JSON answer. */
export function postJson<T>(url: string, body: unknown, bearer?: string): Promise<T> {
  return requestJson<T>('POST', url, body, bearer);
}

/** GET, expecting a 2xx JSON answer. */
export function getJson<T>(url: string, bearer?: string): Promise<T> {
  return requestJson<T>('GET', url, undefined, bearer);
}
