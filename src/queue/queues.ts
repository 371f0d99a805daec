import type { JobsOptions } from 'bullmq';

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
}

export enum JobName {
  SealAudit = 'audit.seal',
  PurgeIdempotencyKeys = 'idempotency.purge',
  PurgeInquiryResults = 'inquiry.purge-results',
  PurgePeerMessageIds = 'peer-message-ids.purge',
  AdmitInquiries = 'inquiries.admit',
  FanoutHosted = 'fanout.hosted',
  FanoutNode = 'fanout.node',
  FanoutFinish = 'fanout.finish',
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
} as const;

/** Retention: enough history to debug, bounded so Redis does not grow. */
export const MAINTENANCE_JOB_OPTIONS: JobsOptions = {
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 1000 },
  attempts: 1,
};
