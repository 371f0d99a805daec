import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { READ_DATABASE, ReadDatabase } from '../database/read-database.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { REDIS } from '../redis/redis.module.js';
import { checkRedis, type RedisClient } from '../redis/redis-client.js';

const PROBE_TIMEOUT_MS = 1500;

function within(probe: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
  });
  return Promise.race([probe.then(() => true, () => false), timeout]).finally(() => clearTimeout(timer));
}

/**
 * What /health checks, as a gauge read at scrape time (kouza_dependency_up), so that
 * Prometheus alerts on Postgres or Redis being unreachable from the API (and on the
 * read replica, `postgres_replica`, when there is one).
 */
@Injectable()
export class DependencyProbe implements OnModuleInit {
  constructor(
    private readonly db: DataSource,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly metrics: MetricsService,
    @Inject(READ_DATABASE) private readonly reads: ReadDatabase,
  ) {}

  onModuleInit(): void {
    this.metrics.probeDependencies = async () => {
      const [postgres, redis, replica] = await Promise.all([
        within(this.db.query('SELECT 1')),
        within(checkRedis(this.redis)),
        this.reads.ping(PROBE_TIMEOUT_MS),
      ]);
      // postgres_replica only when DATABASE_READ_URL is set.
      return { postgres, redis, ...(replica === undefined ? {} : { postgres_replica: replica }) };
    };
  }
}
