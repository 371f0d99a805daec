import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { loadStartupSettings } from './config/bootstrap.js';
import { assertSchemaIsCurrent } from './database/schema-check.js';
import { assertKeysCoverData } from './keys/key-coverage.js';
import { WorkerModule } from './worker/worker.module.js';

/** The worker process (`npm run start:worker`): no HTTP, stops gracefully on SIGTERM. */
async function main(): Promise<void> {
  const { config, keys } = loadStartupSettings('worker');
  const app = await NestFactory.createApplicationContext(WorkerModule.register({ config, keys }), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  await assertSchemaIsCurrent(app.get(DataSource));
  await assertKeysCoverData(app.get(DataSource), keys, (message) => app.get(Logger).warn(message));
  await app.init();
  app.get(Logger).log('worker started');
}

main().catch((error: unknown) => {
  process.stderr.write(`kouza-hub worker: failed to start: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
