import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { DomainError } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { BlindIndex } from '../crypto/blind-index.js';
import { MasterKeySealer } from '../crypto/master-key-sealer.js';
import { PG_POOL } from '../database/database.module.js';
import { JobName, keyRotationJobOptions, QueueName } from '../queue/queues.js';
import type { KeyRotationView } from './dto/key-rotation.dto.js';
import { createRotation, findRotation, listRotations, toRotationView } from './key-rotations.repository.js';
import type { RotationKind } from './key-rotation-runner.js';

export interface RotateKeysJob {
  rotationId: string;
}

/** Starting key rotations (a row, then a job) and reading their progress. */
@Injectable()
export class KeyRotationsService {
  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    private readonly db: DataSource,
    private readonly audit: AuditService,
    private readonly blindIndex: BlindIndex,
    private readonly sealer: MasterKeySealer,
    @InjectQueue(QueueName.KeyRotations) private readonly queue: Queue,
  ) {}

  /**
   * The target is this process's active key: the operator has restarted every
   * process with it before starting the rotation (README, key management).
   */
  async start(kind: RotationKind, actor: AuditActor): Promise<KeyRotationView> {
    const target = kind === 'blind-index' ? String(this.blindIndex.activeVersion) : this.sealer.activeMasterKeyId;
    const id = randomUUID();
    const created = await this.db.transaction(async (tx) => {
      const row = await createRotation(tx, { id, kind, target, source: 'api' });
      if (!row) return undefined;
      await this.audit.record(tx, actor, {
        action: 'key-rotation.start',
        resourceType: 'key-rotation',
        resourceId: id,
        details: { kind, target },
      });
      return row;
    });
    if (!created) throw new DomainError('KEY_ROTATION_IN_PROGRESS', `A ${kind} rotation is already queued or running`);
    await this.queue.add(JobName.RotateKeys, { rotationId: id } satisfies RotateKeysJob, keyRotationJobOptions(id));
    return toRotationView(created);
  }

  async get(id: string): Promise<KeyRotationView> {
    const row = isUuid(id) ? await findRotation(this.pool, id) : undefined;
    if (!row) throw new DomainError('NOT_FOUND', 'No such key rotation');
    return toRotationView(row);
  }

  async list(limit: number): Promise<KeyRotationView[]> {
    return (await listRotations(this.pool, limit)).map(toRotationView);
  }
}
