import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository.js';
import { AuditVerifier } from '../audit/audit-verifier.js';
import { loadConfig } from '../config/app-config.js';
import { dataSourceOptions } from '../database/data-source-options.js';

/**
 * `npm run audit:verify`: recomputes the audit hash chain and prints what it found.
 * Exit code 0 when intact, 2 when anything was edited, deleted or left unsealed.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const dataSource = new DataSource(dataSourceOptions(config, 'kouza-hub-audit-verify'));
  await dataSource.initialize();
  try {
    const result = await new AuditVerifier(new AuditRepository(dataSource)).verify();
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    process.exitCode = result.ok ? 0 : 2;
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`audit verification failed to run: ${(error as Error).message}\n`);
  process.exit(1);
});
