import { DynamicModule, Module } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import { AuditCheckpointsModule } from '../audit/audit-checkpoints.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { AppConfig } from '../config/app-config.js';
import { CoreModule } from '../core/core.module.js';
import { CryptoModule } from '../crypto/crypto.module.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import { DatabaseModule } from '../database/database.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { LoggingModule } from '../logging/logging.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { WorkerMetricsServer } from '../metrics/worker-metrics-server.js';
import { PeersModule } from '../peers/peers.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { AnswerWriter } from '../inquiries/fanout/answer-writer.js';
import { FanoutCache } from '../inquiries/fanout/fanout-cache.js';
import { FanoutRepository } from '../inquiries/fanout/fanout.repository.js';
import { FanoutService } from '../inquiries/fanout/fanout.service.js';
import { InquiryAdmission } from '../inquiries/fanout/inquiry-admission.js';
import { InquiryReconciler } from '../inquiries/fanout/inquiry-reconciler.js';
import { WebhookProcessor } from '../webhooks/webhook.processor.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { RegisterImportProcessor } from '../register/register-import.processor.js';
import { RegisterImportSweeper } from '../register/register-import-sweeper.js';
import { KeyRotationProcessor } from '../keys/key-rotation.processor.js';
import { MaintenanceProcessor } from './maintenance.processor.js';

/** The worker process: queue processors over the same feature modules, no HTTP. */
@Module({})
export class WorkerModule {
  static register(options: { config: AppConfig; keys: KeyMaterial; logDestination?: DestinationStream }): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        CoreModule.register(options.config, options.keys),
        LoggingModule.forRoot(options.logDestination),
        DatabaseModule.forRoot('kouza-hub-worker'),
        MetricsModule,
        CryptoModule,
        QueueModule,
        AuditModule,
        AuditCheckpointsModule,
        IdempotencyModule,
        PeersModule,
        WebhooksModule,
      ],
      providers: [
        MaintenanceProcessor,
        FanoutRepository,
        FanoutCache,
        AnswerWriter,
        FanoutService,
        InquiryAdmission,
        InquiryReconciler,
        WebhookProcessor,
        RegisterImportProcessor,
        RegisterImportSweeper,
        WorkerMetricsServer,
        KeyRotationProcessor,
      ],
    };
  }
}
