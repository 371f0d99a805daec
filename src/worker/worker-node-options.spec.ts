import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repositoryRoot } from '../config/config-reference.js';
import { WORKER_NODE_OPTIONS, workerNodeOptions } from './worker-node-options.js';

const ROOT = repositoryRoot();

describe('the worker runs with WORKER_NODE_OPTIONS wherever it is started', () => {
  it('npm run start:worker puts them before the environment\'s NODE_OPTIONS', () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts['start:worker']).toBe(`NODE_OPTIONS="${WORKER_NODE_OPTIONS.join(' ')} \${NODE_OPTIONS:-}" exec node dist/src/worker.js`);
  });

  it('the compose file\'s workers', () => {
    const compose = readFileSync(join(ROOT, 'docker', 'compose.yaml'), 'utf8');
    const commands = compose.split('\n').filter((line) => line.includes('dist/src/worker.js'));
    expect(commands.length).toBeGreaterThan(0);
    for (const line of commands) expect(line.trim()).toBe(`command: ${JSON.stringify(['node', ...WORKER_NODE_OPTIONS, 'dist/src/worker.js'])}`);
  });

  it('an operator\'s own limit wins: it comes later in NODE_OPTIONS', () => {
    expect(workerNodeOptions(undefined)).toBe(WORKER_NODE_OPTIONS.join(' '));
    const options = workerNodeOptions(' --max-old-space-size=1000 ');
    expect(options).toBe(`${WORKER_NODE_OPTIONS.join(' ')} --max-old-space-size=1000`);
    const limitMb = (nodeOptions: string) =>
      Number(
        execFileSync(process.execPath, ['-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit / 1048576))'], {
          env: { ...process.env, NODE_OPTIONS: nodeOptions },
        }),
      );
    // heap_size_limit is the old space plus V8's young generation, which differs by Node
    // version (Node 20: 432 MB for 384, Node 24: 576): compared, not matched.
    const ours = limitMb(workerNodeOptions(undefined));
    const theirs = limitMb(options);
    expect(ours).toBeLessThan(1000);
    expect(theirs).toBeGreaterThanOrEqual(1000);
    expect(theirs - ours).toBeGreaterThan(400);
  });
});
