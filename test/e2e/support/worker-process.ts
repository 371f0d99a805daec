import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORKER = `${REPO_ROOT}dist/src/worker.js`;

/** The built worker (`npm run start:worker`) as its own process, so a test can SIGKILL it. */
export class WorkerProcess {
  output = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<NodeJS.Signals | number | null>;

  constructor(env: Record<string, string>) {
    if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run \`npm run build\` first`);
    this.child = spawn(process.execPath, [WORKER], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(signal ?? code)));
  }

  kill(signal: NodeJS.Signals): Promise<NodeJS.Signals | number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}
