import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  configReferenceMarkdown,
  readRepositoryFiles,
  repositoryRoot,
  withConfigReference,
} from '../config/config-reference.js';

/**
 * `npm run config:reference`: prints the configuration table generated from AppConfig
 * (class-validator rules, defaults, doc comments). With `--write`, puts it into
 * README.md between the config-reference markers.
 */
function main(): void {
  const root = repositoryRoot();
  const { source, readme } = readRepositoryFiles(root);
  const table = configReferenceMarkdown(source);
  if (process.argv.includes('--write')) {
    writeFileSync(join(root, 'README.md'), withConfigReference(readme, table));
    process.stdout.write('README.md configuration reference updated\n');
  } else {
    process.stdout.write(`${table}\n`);
  }
}

main();
