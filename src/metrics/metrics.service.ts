import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

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

  /**
   * Location inquiries accepted, by the requesting institution's code and kind: one
   * institution's volume jumping (KouzaInquiryVolumeJump) is what a leaked API key used
   * to harvest account locations looks like. Bounded by the hosted institutions.
   */
  readonly inquiriesCreated = new Counter({
    name: 'kouza_inquiries_created_total',
    help: 'Location inquiries accepted (replays not counted), by requesting institution code and kind',
    labelNames: ['institution', 'kind'] as const,
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

  /**
   * From the inquiry's creation to its final status (the requester's wait), by kind
   * (inheritance, disaster, numbering) and final status (completed, partial).
   */
  readonly inquiryDuration = new Histogram({
    name: 'kouza_inquiry_duration_seconds',
    help: 'Time from an inquiry being created to it being final, by kind and final status',
    labelNames: ['kind', 'status'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    registers: [this.registry],
  });

  /**
   * Messages to peer nodes, labelled by the peer's node id: the label set is bounded by
   * the registered peers (tens, not millions), and per-node failures are what an
   * operator needs to see.
   */
  readonly peerMessages = new Counter({
    name: 'kouza_peer_messages_total',
    help: 'Messages sent to peer nodes, by node and outcome (answered, timeout, network, refused, forged ...)',
    labelNames: ['node', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly peerAnswerSeconds = new Histogram({
    name: 'kouza_peer_answer_seconds',
    help: 'Time for a peer node to answer one message, by node',
    labelNames: ['node'] as const,
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

  readonly peerKeyRefreshes = new Counter({
    name: 'kouza_peer_key_refreshes_total',
    help: "Scheduled fetches of peers' published keys (GET {endpointUrl}/v1/node), by outcome (refreshed, failed)",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** Key changes a peer's endpoint published without the peer's signed say-so, by node and reason: an operator's matter. */
  readonly peerKeyChangesRefused = new Counter({
    name: 'kouza_peer_key_changes_refused_total',
    help: "Refreshes that found new keys at a peer's GET /v1/node not endorsed by a key statement signed with a key trusted for it",
    labelNames: ['node', 'reason'] as const,
    registers: [this.registry],
  });

  /** Inbound messages refused for the sending peer's quota (PEER_QUOTA_EXCEEDED), by node. */
  readonly peerQuotaRefused = new Counter({
    name: 'kouza_peer_quota_refused_total',
    help: "Inbound peer messages refused (429) because the sender's quota of queries per minute was spent, by node",
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  readonly peerAddressRateLimited = new Counter({
    name: 'kouza_peer_address_rate_limited_total',
    help: 'Messages to the peer routes refused (429 PEER_RATE_LIMITED) for their client address, before being read',
    registers: [this.registry],
  });

  readonly auditRowsSealed = new Counter({
    name: 'kouza_audit_rows_sealed_total',
    help: 'Audit rows sealed into the hash chain',
    registers: [this.registry],
  });

  /** Checkpoints of the audit chain's head: signed, or refused (the chain no longer extends the last one). */
  readonly auditCheckpoints = new Counter({
    name: 'kouza_audit_checkpoints_total',
    help: "Checkpoints of the audit chain's head, by outcome: signed, refused (the chain no longer extends the last checkpoint: cut or rewritten)",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly auditCheckpointDeliveries = new Counter({
    name: 'kouza_audit_checkpoint_deliveries_total',
    help: 'Audit checkpoints sent to peer nodes (witnesses), by outcome (delivered, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'kouza_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered, retried (failed, another attempt follows), failed (for good)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** Maintenance (retention) job runs by job name and outcome (ok, failed). */
  readonly retentionRuns = new Counter({
    name: 'kouza_retention_runs_total',
    help: 'Retention and housekeeping job runs, by job and outcome (ok, failed)',
    labelNames: ['job', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly retentionRowsPurged = new Counter({
    name: 'kouza_retention_rows_purged_total',
    help: 'Rows removed or emptied by retention jobs, by job',
    labelNames: ['job'] as const,
    registers: [this.registry],
  });

  /** When the audit sealer last ran successfully (seconds since the epoch): alerts on seal lag. */
  readonly auditLastSeal = new Gauge({
    name: 'kouza_audit_last_seal_timestamp_seconds',
    help: 'When the audit sealer last completed a run (Unix seconds)',
    aggregator: 'max',
    registers: [this.registry],
  });

  /** Requests refused with 429, by caller kind (institution, operator). */
  readonly rateLimited = new Counter({
    name: 'kouza_rate_limited_total',
    help: 'Requests refused by the per-key rate limit (429), by caller kind and institution code',
    labelNames: ['principal', 'institution'] as const,
    registers: [this.registry],
  });

  /**
   * My Number ciphertexts that did not open for the row they were read from (moved
   * from another row, altered, a data key id edited): each read failed closed.
   */
  readonly ciphertextMismatches = new Counter({
    name: 'kouza_ciphertext_mismatches_total',
    help: 'My Number ciphertexts that did not open for their row (the read failed closed), by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  /** Rate-limit checks that could not reach Redis: the request went through (fail open). */
  readonly rateLimitErrors = new Counter({
    name: 'kouza_rate_limit_errors_total',
    help: 'Rate-limit checks that failed (Redis unavailable); such requests are let through',
    registers: [this.registry],
  });

  /**
   * Jobs per queue and state, read from BullMQ when Prometheus scrapes (see
   * QueueDepthCollector). `max` across cluster processes: each reads the same Redis.
   */
  readonly queueJobs = new Gauge({
    name: 'kouza_queue_jobs',
    help: 'Jobs in each BullMQ queue by state (waiting, active, delayed, failed, prioritized, waiting-children), read at scrape time',
    labelNames: ['queue', 'state'] as const,
    aggregator: 'max',
    registers: [this.registry],
    collect: () => this.collectQueueDepths(),
  });

  /** 1 when the API reaches the dependency (as /health checks it), read at scrape time. */
  readonly dependencyUp = new Gauge({
    name: 'kouza_dependency_up',
    help: 'Whether Postgres and Redis answer this process (1) or not (0), checked at scrape time',
    labelNames: ['dependency'] as const,
    aggregator: 'min',
    registers: [this.registry],
    collect: async () => {
      if (!this.probeDependencies) return;
      for (const [dependency, up] of Object.entries(await this.probeDependencies())) this.dependencyUp.set({ dependency }, up ? 1 : 0);
    },
  });

  /** Set by DependencyProbe in the API. */
  probeDependencies?: () => Promise<Record<string, boolean>>;

  /** Set by QueueDepthCollector where queues exist; read at scrape time. */
  readQueueDepths?: () => Promise<{ queue: string; counts: Record<string, number> }[]>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kouza_' });
  }

  /**
   * Reads the queues' job counts; a scrape while Redis is down (or slow) reports none
   * rather than waiting on it, and the alert on missing depths tells.
   */
  private async collectQueueDepths(): Promise<void> {
    this.queueJobs.reset();
    if (!this.readQueueDepths) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), 2000);
    });
    try {
      const depths = await Promise.race([this.readQueueDepths(), timeout]);
      for (const { queue, counts } of depths ?? []) {
        for (const [state, count] of Object.entries(counts)) this.queueJobs.set({ queue, state }, count);
      }
    } catch {
      // Redis unavailable: no depths in this scrape.
    } finally {
      clearTimeout(timer);
    }
  }
}
