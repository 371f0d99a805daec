import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from './metrics.service.js';

/**
 * The worker has no HTTP app, yet the fan-out's metrics live in it: this serves its
 * registry on WORKER_METRICS_PORT (GET /metrics, nothing else). A port already taken is
 * logged and the worker keeps working: jobs matter more than their metrics.
 */
@Injectable()
export class WorkerMetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private server?: Server;

  constructor(
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(WorkerMetricsServer.name);
  }

  /** The bound port (tests), undefined when disabled or not listening. */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.WORKER_METRICS_PORT === 0) return;
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      this.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => {
      server.once('error', (error) => {
        this.logger.error({ err: error, port: this.config.WORKER_METRICS_PORT }, 'worker metrics endpoint not started');
        resolve();
      });
      server.listen(this.config.WORKER_METRICS_PORT, this.config.HOST, () => {
        this.server = server;
        resolve();
      });
    });
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
