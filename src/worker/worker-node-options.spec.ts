import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repositoryRoot } from '../config/config-reference.js';
import { WORKER_NODE_OPTIONS } from './worker-node-options.js';

const ROOT = repositoryRoot();

describe('the worker runs with WORKER_NODE_OPTIONS wherever it is started', () => {
  it('npm run start:worker', () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts['start:worker']).toBe(`exec node ${WORKER_NODE_OPTIONS.join(' ')} dist/src/worker.js`);
  });

  it('the compose file', () => {
    const compose = readFileSync(join(ROOT, 'docker', 'compose.yaml'), 'utf8');
    expect(compose).toContain(`command: ${JSON.stringify(['node', ...WORKER_NODE_OPTIONS, 'dist/src/worker.js'])}`);
  });
});
