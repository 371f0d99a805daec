import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadStartupSettings } from './config/bootstrap.js';
import { describeConfig } from './config/app-config.js';
import { assertSchemaIsCurrent } from './database/schema-check.js';
import { createHttpApp } from './http/create-http-app.js';
import { Logger } from 'nestjs-pino';

/** The API process (`npm run start:api`). */
async function main(): Promise<void> {
  const { config, keys } = loadStartupSettings('api');
  const app = await createHttpApp({ config, keys });
  await assertSchemaIsCurrent(app.get(DataSource));
  await app.listen({ port: config.PORT, host: config.HOST });
  app.get(Logger).log({ config: describeConfig(config), generatedKeys: keys.generated }, `API listening on ${config.HOST}:${config.PORT}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`kouza-hub api: failed to start: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
