import { cleanup } from './support/cleanup.js';

/**
 * `npm run bench [-- <suite>]`. A suite is a module exporting `run()`; adding one is
 * its file plus its line here.
 */
const SUITES: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  linkages: () => import('./linkages.bench.js'),
  inquiries: () => import('./inquiries.bench.js'),
  register: () => import('./register.bench.js'),
  rotation: () => import('./rotation.bench.js'),
  redaction: () => import('./redaction.bench.js'),
  envelope: () => import('./envelope.bench.js'),
  shards: () => import('./shards.bench.js'),
};

const name = process.argv[2] ?? 'linkages';
const load = SUITES[name];
if (!load) {
  process.stderr.write(`unknown bench suite "${name}"; known: ${Object.keys(SUITES).join(', ')}\n`);
  process.exit(2);
}

// An interrupted run still stops the service and drops its database.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: cleaning up\n`);
    void cleanup.run().finally(() => process.exit(130));
  });
}

try {
  await (await load()).run();
} catch (error) {
  process.stderr.write(`\nbench ${name} FAILED: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup.run();
}
