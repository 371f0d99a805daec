import { getQueueToken } from '@nestjs/bullmq';
import type { ModuleRef } from '@nestjs/core';
import type { Queue } from 'bullmq';
import { QueueName } from './queues.js';

/** Every queue of QueueName that this process has registered (QueueModule registers them all). */
export function allQueues(moduleRef: Pick<ModuleRef, 'get'>): Queue[] {
  const queues: Queue[] = [];
  for (const name of Object.values(QueueName)) {
    try {
      queues.push(moduleRef.get<Queue>(getQueueToken(name), { strict: false }));
    } catch {
      // Not registered in this process.
    }
  }
  return queues;
}
