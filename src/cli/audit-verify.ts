import 'reflect-metadata';
import type { PinoLogger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { AuditCheckpoints } from '../audit/audit-checkpoints.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { AuditSealer } from '../audit/audit-sealer.js';
import { AuditVerifier } from '../audit/audit-verifier.js';
import { AuditWitnessRepository } from '../audit/audit-witness.repository.js';
import { loadStartupSettings } from '../config/bootstrap.js';
import { dataSourceOptions } from '../database/data-source-options.js';
import { createNodeIdentity } from '../peers/envelope.js';
import { PeerMessageIdsRepository } from '../peers/peer-message-ids.repository.js';
import { PeersRepository } from '../peers/peers.repository.js';

/** The CLI's log: warnings (an unreachable witness) on standard error, as JSON lines. */
const stderrLogger = {
  setContext: () => undefined,
  info: () => undefined,
  warn: (fields: Record<string, unknown>, msg: string) =>
    process.stderr.write(`${JSON.stringify({ level: 'warn', process: 'audit-verify', ...fields, msg })}\n`),
} as unknown as PinoLogger;

/**
 * `npm run audit:verify`: recomputes the audit hash chain, checks it against the newest
 * signed checkpoint of the checkpoint log and of every witness (as GET
 * /v1/audit/verification does) and prints what it found.
 * Exit code 0 when intact, 2 when anything was edited, deleted, cut or left unsealed.
 */
async function main(): Promise<void> {
  const { config, keys } = loadStartupSettings('audit-verify');
  const dataSource = new DataSource(dataSourceOptions(config, 'kouza-hub-audit-verify'));
  await dataSource.initialize();
  try {
    const { node } = keys;
    const identity = await createNodeIdentity(
      node.nodeId,
      node.signingPrivateJwk,
      node.encryptionPrivateJwk,
      (node.previous ?? []).map((p) => ({ signingJwk: p.signingJwk, encryptionPrivateJwk: p.encryptionPrivateJwk, notAfter: p.notAfter })),
    );
    const audit = new AuditRepository(dataSource);
    const checkpoints = new AuditCheckpoints(
      identity,
      config,
      new AuditSealer(dataSource, audit, keys),
      new AuditVerifier(audit, keys),
      new PeersRepository(dataSource),
      new PeerMessageIdsRepository(dataSource),
      new AuditWitnessRepository(dataSource),
      stderrLogger,
    );
    const result = await checkpoints.verify();
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
