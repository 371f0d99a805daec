import 'reflect-metadata';
import cluster from 'node:cluster';
import { Logger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { describeConfig } from './config/app-config.js';
import { loadStartupSettings } from './config/bootstrap.js';
import { assertSchemaIsCurrent } from './database/schema-check.js';
import { assertKeysCoverData } from './keys/key-coverage.js';
import { createHttpApp } from './http/create-http-app.js';
import { listeningAt, listenOperations } from './http/operations-listener.js';
import { aggregateClusterMetrics } from './metrics/cluster-metrics.js';

/**
 * The API process (`npm run start:api`). With API_PROCESSES > 1 this process only
 * supervises that many API processes sharing the port, replacing any that dies.
 */
async function main(): Promise<void> {
  const { config, keys } = loadStartupSettings('api');
  if (config.API_PROCESSES > 1 && cluster.isPrimary) {
    superviseApiProcesses(config.API_PROCESSES);
    return;
  }
  const app = await createHttpApp({ config, keys });
  await assertSchemaIsCurrent(app.get(DataSource));
  await assertKeysCoverData(app.get(DataSource), keys, (message) => app.get(Logger).warn(message));
  await app.listen({ port: config.PORT, host: config.HOST });
  const ops = config.OPS_PORT !== undefined ? await listenOperations(app, { port: config.OPS_PORT, host: config.OPS_HOST }) : undefined;
  app.get(Logger).log(
    { config: describeConfig(config), generatedKeys: keys.generated },
    `API listening on ${config.HOST}:${config.PORT}` +
      (ops ? `; /metrics, /queues and /docs on ${listeningAt(ops)} only` : ''),
  );
}

function superviseApiProcesses(count: number): void {
  let stopping = false;
  aggregateClusterMetrics();
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(`kouza-hub api: process ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    setTimeout(() => cluster.fork(), 1000);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`kouza-hub api: failed to start: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
