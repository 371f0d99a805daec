import { DynamicModule, Module } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import { AuditCheckpointsController } from './audit/audit-checkpoints.controller.js';
import { AuditCheckpointsModule } from './audit/audit-checkpoints.module.js';
import { AuditController } from './audit/audit.controller.js';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { AppConfig } from './config/app-config.js';
import { CoreModule } from './core/core.module.js';
import { CryptoModule } from './crypto/crypto.module.js';
import type { KeyMaterial } from './crypto/key-material.js';
import { DatabaseModule } from './database/database.module.js';
import { DisastersModule } from './disasters/disasters.module.js';
import { HealthModule } from './health/health.module.js';
import { HistoryModule } from './history/history.module.js';
import { InquiriesModule } from './inquiries/inquiries.module.js';
import { InstitutionsModule } from './institutions/institutions.module.js';
import { KeysModule } from './keys/keys.module.js';
import { LinkagesModule } from './linkages/linkages.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsController } from './metrics/metrics.controller.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { NumberingModule } from './numbering/numbering.module.js';
import { PeersApiModule } from './peers/peers-api.module.js';
import { RedisModule } from './redis/redis.module.js';
import { RegisterModule } from './register/register.module.js';
import { WebhookDeliveriesController } from './webhooks/webhook-deliveries.controller.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

export interface AppModuleOptions {
  config: AppConfig;
  keys: KeyMaterial;
  /** Where logs go (standard output when absent; tests capture them). */
  logDestination?: DestinationStream;
}

/** The API process: HTTP controllers over the shared feature modules. */
@Module({})
export class AppModule {
  static register(options: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.register(options.config, options.keys),
        LoggingModule.forRoot(options.logDestination),
        DatabaseModule.forRoot('kouza-hub-api'),
        RedisModule,
        MetricsModule,
        CryptoModule,
        AuditModule,
        AuditCheckpointsModule,
        AuthModule,
        InstitutionsModule,
        LinkagesModule,
        DisastersModule,
        InquiriesModule,
        NumberingModule,
        HistoryModule,
        PeersApiModule,
        RegisterModule,
        KeysModule,
        WebhooksModule,
        HealthModule,
      ],
      controllers: [AuditController, AuditCheckpointsController, MetricsController, WebhookDeliveriesController],
    };
  }
}
