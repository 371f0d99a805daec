import type { JobsOptions, Queue } from 'bullmq';

/**
 * Every queue, job name and job option in one place. Job payloads carry ids only,
 * never personal data: Redis is not where My Numbers live.
 */
export enum QueueName {
  Maintenance = 'maintenance',
  /** Admission of queued inquiries into fan-outs, hosted answers, and each fan-out's completion. */
  Inquiries = 'inquiries',
  /** One job per peer node and fan-out: a single message carrying every query for that node. */
  PeerQueries = 'peer-queries',
  Webhooks = 'webhooks',
  /** Account register imports uploaded through the API; one job per import, data = { importId }. */
  Register = 'register',
  /** Key rotations (re-index, re-wrap); data = { rotationId }. */
  KeyRotations = 'key-rotations',
}

/** The flow producer that creates one flow per fan-out. */
export const FANOUT_FLOW_PRODUCER = 'fanout';

/**
 * Which hash tag each queue's keys carry. BullMQ's scripts touch several keys of a queue
 * at once (and a flow's, its parent's and children's queues), which Redis Cluster allows
 * only within one slot: a queue's keys must share a tag, and a flow's queues too. One
 * tag per family rather than one for all, so that on a cluster the families spread over
 * the masters (a slot lives on one master). With the default QUEUE_PREFIX on three
 * masters of evenly split slots, the two busiest families (inquiries, webhooks) land on
 * different masters (see docs/benchmarks.md); `CLUSTER KEYSLOT` tells for other splits.
 */
const QUEUE_FAMILIES: Record<QueueName, string> = {
  // One flow per fan-out: the finish job (inquiries) is the parent of its peer queries.
  [QueueName.Inquiries]: 'inquiries',
  [QueueName.PeerQueries]: 'inquiries',
  [QueueName.Webhooks]: 'webhooks',
  [QueueName.Register]: 'register',
  [QueueName.Maintenance]: 'maintenance',
  [QueueName.KeyRotations]: 'key-rotations',
};

/** QUEUE_PREFIX without its braces: what every Redis key of this deployment starts from. */
export function redisKeyBase(queuePrefix: string): string {
  return queuePrefix.replace(/[{}]/g, '');
}

/**
 * The BullMQ prefix of a queue (or of the fan-out flow producer): its family's hash tag,
 * e.g. `{kouza-hub:inquiries}` for QUEUE_PREFIX `{kouza-hub}`. Every Queue, Worker and
 * FlowProducer takes its prefix from here.
 */
export function queuePrefix(config: { QUEUE_PREFIX: string }, queue: QueueName | typeof FANOUT_FLOW_PRODUCER): string {
  const family = queue === FANOUT_FLOW_PRODUCER ? QUEUE_FAMILIES[QueueName.Inquiries] : QUEUE_FAMILIES[queue];
  return `{${redisKeyBase(config.QUEUE_PREFIX)}:${family}}`;
}

export enum JobName {
  SealAudit = 'audit.seal',
  PurgeIdempotencyKeys = 'idempotency.purge',
  PurgeInquiryResults = 'inquiry.purge-results',
  PurgePeerMessageIds = 'peer-message-ids.purge',
  /** Fetches every enabled peer's GET /v1/node to learn rotated keys. */
  RefreshPeerKeys = 'peer-keys.refresh',
  AdmitInquiries = 'inquiries.admit',
  FanoutHosted = 'fanout.hosted',
  FanoutNode = 'fanout.node',
  FanoutFinish = 'fanout.finish',
  /** One webhook delivery; jobId = delivery id, data = { deliveryId }. */
  DeliverWebhook = 'webhook.deliver',
  /** Re-enqueues due webhook deliveries that have no job. */
  SweepWebhooks = 'webhook.sweep',
  ImportRegister = 'register.import',
  /** Re-enqueues spooled register uploads that have no job; fails uploads that broke off. */
  SweepRegisterImports = 'register.sweep',
  /** Runs (or resumes) one key rotation; data = { rotationId }. */
  RotateKeys = 'keys.rotate',
  /** Re-enqueues key rotations that are unfinished and idle (their worker died). */
  ResumeKeyRotations = 'keys.resume-rotations',
}

export const JOB_SCHEDULERS = {
  /** Seals new audit rows into the hash chain. */
  auditSeal: { id: 'audit-seal', name: JobName.SealAudit },
  /** Drops Idempotency-Key answers past IDEMPOTENCY_TTL_HOURS. */
  idempotencyPurge: { id: 'idempotency-purge', name: JobName.PurgeIdempotencyKeys, everyMs: 10 * 60_000 },
  /** Empties inquiry account lists past INQUIRY_RESULT_RETENTION_DAYS. */
  inquiryResultsPurge: { id: 'inquiry-results-purge', name: JobName.PurgeInquiryResults, everyMs: 60 * 60_000 },
  /** Forgets the ids of expired peer messages (the replay check no longer needs them). */
  peerMessageIdsPurge: { id: 'peer-message-ids-purge', name: JobName.PurgePeerMessageIds, everyMs: 5 * 60_000 },
  /** Learns peers' rotated keys; every PEER_KEY_REFRESH_INTERVAL_MS. */
  peerKeysRefresh: { id: 'peer-keys-refresh', name: JobName.RefreshPeerKeys },
  /** Re-enqueues due webhook deliveries that have no job; every WEBHOOK_SWEEP_INTERVAL_MS. */
  webhookSweep: { id: 'webhook-sweep', name: JobName.SweepWebhooks },
  /** Re-enqueues unfinished key rotations whose runner stopped; every KEY_ROTATION_RESUME_INTERVAL_MS. */
  keyRotationsResume: { id: 'key-rotations-resume', name: JobName.ResumeKeyRotations },
  /** Register uploads that nothing will finish; every REGISTER_IMPORT_SWEEP_INTERVAL_MS. */
  registerImportsSweep: { id: 'register-imports-sweep', name: JobName.SweepRegisterImports },
} as const;

/** Retention: enough history to debug, bounded so Redis does not grow. */
export const MAINTENANCE_JOB_OPTIONS: JobsOptions = {
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 1000 },
  attempts: 1,
};

/**
 * Register imports: jobId = import id (enqueued once). A worker that dies mid-import
 * leaves a stalled job that BullMQ hands to another worker (maxStalledCount), which
 * starts again from the spool: the first attempt's transaction rolled back.
 */
export function registerImportJobOptions(importId: string): JobsOptions {
  return {
    jobId: importId,
    attempts: 3,
    backoff: { type: 'fixed', delay: 5000 },
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 1000 },
  };
}

/**
 * Key rotation jobs. The rotation's row holds its state (cursor committed with each
 * batch), so any job for it, a retry or a re-enqueued one, resumes where the last
 * batch ended; a session lock in Postgres keeps one runner at a time. `jobId` is the
 * rotation id, with a suffix when resuming (the first job may still sit in Redis).
 */
export function keyRotationJobOptions(jobId: string): JobsOptions {
  return {
    jobId,
    attempts: 3,
    backoff: { type: 'exponential', delay: 5000 },
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 1000 },
  };
}

/** The backoff type of delivery jobs: the processor names each retry's delay (see webhook.processor.ts). */
export const WEBHOOK_BACKOFF_TYPE = 'webhook';

/**
 * Delivery jobs: retried by BullMQ after the delay the processor computed (the
 * database's attempt count decides, so that a re-enqueued job keeps the schedule);
 * `attempts` only bounds BullMQ's own count, the processor ends a delivery first.
 */
export function webhookJobOptions(deliveryId: string, maxAttempts: number): JobsOptions {
  return {
    jobId: deliveryId,
    attempts: maxAttempts,
    backoff: { type: WEBHOOK_BACKOFF_TYPE },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
}

/**
 * Upserts job schedulers (idempotent: every worker replica upserts the same ones).
 * With `onlyMissing`, only those Redis has lost, so that running ones keep their timing.
 */
export async function ensureJobSchedulers(
  queue: Queue,
  schedulers: { id: string; name: string; everyMs: number }[],
  onlyMissing: boolean,
): Promise<void> {
  for (const { id, name, everyMs } of schedulers) {
    if (onlyMissing && (await queue.getJobScheduler(id))) continue;
    await queue.upsertJobScheduler(id, { every: everyMs }, { name, opts: MAINTENANCE_JOB_OPTIONS });
  }
}
