import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadStartupSettings } from './config/bootstrap.js';
import { migrate } from './database/migrate.js';
import { workerNodeOptions } from './worker/worker-node-options.js';

/**
 * `npm start`: checks the configuration, creates the database if missing, applies
 * migrations, then runs the API and the worker as two child processes with the same
 * environment. If either stops, both are stopped and the exit code is passed on, so
 * that a supervisor sees the failure.
 */
async function main(): Promise<void> {
  const log = (msg: string) => process.stdout.write(`${JSON.stringify({ level: 'info', service: 'kouza-hub', process: 'start', msg })}\n`);
  const { config } = loadStartupSettings('start'); // also generates development keys once, before the children read them
  const applied = await migrate(config);
  log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database schema is current');

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const child of children.values()) if (child.exitCode === null) child.kill(signal);
  };
  for (const name of ['main', 'worker']) {
    const child = fork(fileURLToPath(new URL(`./${name}.js`, import.meta.url)), {
      stdio: 'inherit',
      // The worker's heap limit (WORKER_NODE_OPTIONS), before the environment's own options so that those win.
      env: name === 'worker' ? { ...process.env, NODE_OPTIONS: workerNodeOptions(process.env.NODE_OPTIONS) } : process.env,
    });
    children.set(name, child);
    child.on('exit', (code, signal) => {
      children.delete(name);
      if (!stopping) {
        log(`${name === 'main' ? 'api' : 'worker'} stopped (${signal ?? code}); stopping the other process`);
        process.exitCode = code || 1;
        stopAll('SIGTERM');
      }
      if (children.size === 0) process.exit(process.exitCode ?? 0);
    });
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stopAll(signal));
}

main().catch((error: unknown) => {
  process.stderr.write(`kouza-hub: failed to start: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
