import { Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { MetricsService } from '../metrics/metrics.service.js';
import { allQueues } from './all-queues.js';

/** States reported by kouza_queue_jobs: everything that is not finished. */
export const QUEUE_DEPTH_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed'] as const;

/** Gives MetricsService the queues whose depths a scrape reads (one getJobCounts per queue). */
@Injectable()
export class QueueDepthCollector implements OnModuleInit {
  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    const queues = allQueues(this.moduleRef);
    this.metrics.readQueueDepths = async () =>
      Promise.all(
        queues.map(async (queue) => ({ queue: queue.name, counts: await queue.getJobCounts(...QUEUE_DEPTH_STATES) })),
      );
  }
}
