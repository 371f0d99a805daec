import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators.js';
import { inApiCluster, prepareClusterMetrics, scrapeCluster } from './cluster-metrics.js';
import { MetricsService } from './metrics.service.js';

/**
 * Prometheus scrape endpoint (unauthenticated: expose it only to the monitoring network).
 * Under API_PROCESSES > 1 it answers for the whole cluster (see cluster-metrics.ts).
 */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {
    prepareClusterMetrics(metrics.registry);
  }

  @Get()
  @Public()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return inApiCluster() ? scrapeCluster(this.metrics.registry) : this.metrics.registry.metrics();
  }
}
