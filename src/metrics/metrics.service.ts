import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The process's Prometheus registry and the metrics the code updates. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'kouza_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'kouza_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly linkagesCreated = new Counter({
    name: 'kouza_linkages_created_total',
    help: 'Account linkages created (already-linked accounts not counted)',
    labelNames: ['institution'] as const,
    registers: [this.registry],
  });

  readonly linkagesRevoked = new Counter({
    name: 'kouza_linkages_revoked_total',
    help: 'Account linkages revoked',
    labelNames: ['institution'] as const,
    registers: [this.registry],
  });

  readonly inquiriesFinal = new Counter({
    name: 'kouza_inquiries_final_total',
    help: 'Inquiries made final, by kind and status (completed, partial)',
    labelNames: ['kind', 'status'] as const,
    registers: [this.registry],
  });

  readonly fanoutNodes = new Histogram({
    name: 'kouza_fanout_nodes',
    help: 'Nodes asked per fan-out (this node counts as one)',
    buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000],
    registers: [this.registry],
  });

  readonly peerMessages = new Counter({
    name: 'kouza_peer_messages_total',
    help: 'Location-query messages sent to peer nodes, by outcome (answered, timeout, network, refused, forged ...)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly peerAnswerSeconds = new Histogram({
    name: 'kouza_peer_answer_seconds',
    help: 'Time for a peer node to answer one message',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly peerBatchSize = new Histogram({
    name: 'kouza_peer_batch_queries',
    help: 'Queries carried by one message to a peer node',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    registers: [this.registry],
  });

  readonly reconcilerActions = new Counter({
    name: 'kouza_reconciler_actions_total',
    help: 'Inquiries the reconciler made final at their deadline (overdue) or re-queued after a lost fan-out (requeued)',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  readonly auditRowsSealed = new Counter({
    name: 'kouza_audit_rows_sealed_total',
    help: 'Audit rows sealed into the hash chain',
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'kouza_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered, retried (failed, another attempt follows), failed (for good)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kouza_' });
  }
}
