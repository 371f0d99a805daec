import 'reflect-metadata';
import { loadStartupSettings } from '../config/bootstrap.js';
import { migrate } from '../database/migrate.js';

/** `npm run migrate`: creates the database if missing and applies pending migrations. */
const { config } = loadStartupSettings('migrate');
migrate(config)
  .then((applied) => {
    process.stdout.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Schema is current.\n');
  })
  .catch((error: unknown) => {
    process.stderr.write(`Migration failed: ${(error as Error).message}\n`);
    process.exit(1);
  });
