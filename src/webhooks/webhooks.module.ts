import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { WebhooksService } from './webhooks.service.js';

/**
 * Completion webhooks: the outbox service that event code calls, institutions'
 * signing secrets, and the deliveries' records. The API adds the deliveries
 * controller, the worker the processor (webhook.processor.ts).
 */
@Module({
  imports: [AuditModule, QueueModule],
  providers: [WebhookDeliveriesRepository, WebhookSecrets, WebhooksService],
  exports: [WebhookDeliveriesRepository, WebhookSecrets, WebhooksService],
})
export class WebhooksModule {}
