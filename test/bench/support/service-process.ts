import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { readTreeKb } from './proc.js';

/** The first port from `from` on that nothing listens on (other runs may hold some). */
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

export interface ServiceProcess {
  pid: number;
  baseUrl: string;
  /** SIGTERM, then waits for the exit; returns VmHWM (kB) read just before. Idempotent. */
  stop(): Promise<number | undefined>;
}

/**
 * Runs a built entry point (e.g. dist/src/main.js) as a child process, as production
 * does, and resolves once GET <healthPath> answers 200. Its output is passed on,
 * prefixed, so that warnings and errors during a run are seen.
 */
export async function startService(opts: {
  label: string;
  script: string;
  env: NodeJS.ProcessEnv;
  port: number;
  nodeArgs?: string[];
  healthPath?: string;
  startTimeoutMs?: number;
}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script], {
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stderr.write(`[${opts.label}] ${line}\n`));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped: Promise<number | undefined> | undefined;
  const service: ServiceProcess = {
    pid: child.pid!,
    baseUrl: `http://127.0.0.1:${opts.port}`,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const hwmKb = readTreeKb(child.pid!, 'VmHWM');
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
        return hwmKb;
      })();
      return stopped;
    },
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  const healthUrl = service.baseUrl + (opts.healthPath ?? '/health');
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${opts.label} exited during start-up (${child.signalCode ?? child.exitCode}); see its output above`);
    }
    try {
      const response = await fetch(healthUrl, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return service;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await service.stop();
      throw new Error(`${opts.label} did not answer 200 on ${healthUrl} within ${opts.startTimeoutMs ?? 30_000} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** POST a JSON body, expecting a 2xx JSON answer. */
export async function postJson<T>(url: string, body: unknown, bearer: string): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}
