import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repositoryRoot } from '../config/config-reference.js';
import { buildOpenApiDocument, serializeOpenApiDocument } from '../http/openapi-build.js';

export const OPENAPI_FILE = 'openapi/openapi.json';

/**
 * `npm run openapi`: writes the OpenAPI document to openapi/openapi.json (committed; a
 * spec fails when it is out of date). With `--check`, only says whether it is current.
 */
async function main(): Promise<void> {
  const file = join(repositoryRoot(), OPENAPI_FILE);
  const text = serializeOpenApiDocument(await buildOpenApiDocument());
  if (process.argv.includes('--check')) {
    const current = readFileSync(file, 'utf8') === text;
    process.stdout.write(current ? `${OPENAPI_FILE} is current\n` : `${OPENAPI_FILE} is out of date: run npm run openapi\n`);
    process.exit(current ? 0 : 1);
  }
  writeFileSync(file, text);
  process.stdout.write(`${OPENAPI_FILE} written\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`openapi: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
