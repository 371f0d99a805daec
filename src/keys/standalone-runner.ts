import type pg from 'pg';
import type { DataSource } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { DataKeysRepository } from '../crypto/data-keys.repository.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import { MasterKeySealer } from '../crypto/master-key-sealer.js';
import { MyNumberCipher } from '../crypto/my-number-cipher.js';
import { KeyRotationRunner } from './key-rotation-runner.js';

/** A runner outside Nest (the CLI, the benchmark), built from the same parts the worker injects. */
export function standaloneRotationRunner(
  dataSource: DataSource,
  config: AppConfig,
  keys: KeyMaterial,
  log: (fields: Record<string, unknown>, message: string) => void = () => undefined,
): KeyRotationRunner {
  const sealer = new MasterKeySealer(keys);
  const audit = new AuditRepository(dataSource);
  return new KeyRotationRunner({
    pool: (dataSource.driver as unknown as { master: pg.Pool }).master,
    blindIndex: new BlindIndex(keys),
    cipher: new MyNumberCipher(sealer, new DataKeysRepository(dataSource)),
    sealer,
    batchSize: config.KEY_ROTATION_BATCH_SIZE,
    pauseMs: config.KEY_ROTATION_BATCH_PAUSE_MS,
    audit: (executor, actor, ...events) => audit.append(executor, actor, events),
    log,
  });
}
