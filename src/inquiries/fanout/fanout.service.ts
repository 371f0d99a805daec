import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectFlowProducer } from '@nestjs/bullmq';
import { Worker } from 'bullmq';
import type { FlowJob, FlowProducer, Job } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { coalesced } from '../../common/async/coalesced.js';
import type { AuditActor, AuditEvent } from '../../audit/audit-event.js';
import { AuditService } from '../../audit/audit.service.js';
import { AppConfig } from '../../config/app-config.js';
import { HostedLocations, type HostedQuery } from '../../locations/hosted-locations.js';
import { nameKey } from '../../register/register-keys.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { PeerClient, PeerUnreachableError } from '../../peers/peer-client.js';
import type { PeerNode } from '../../peers/peer-client.js';
import { PeersRepository } from '../../peers/peers.repository.js';
import { bullmqConnectionOptions } from '../../queue/bullmq-connection.js';
import { WebhooksService } from '../../webhooks/webhooks.service.js';
import { FANOUT_FLOW_PRODUCER, JobName, QueueName, queuePrefix } from '../../queue/queues.js';
import { DEATH_EVIDENCE, HOSTED_NODE_ID, PRIORITY } from '../inquiry.types.js';
import type { FanoutKind, InstitutionFinding } from '../inquiry.types.js';
import { HostedNumbering } from '../../numbering/hosted-numbering.js';
import type { NumberingOrigin, NumberingSubject } from '../../numbering/hosted-numbering.js';
import { checkedLocationQuery } from '../../peers/peer-messages.js';
import type { DeathEvidence, LocationQuery, NumberedInstitution, NumberingNotice, PeerPurpose } from '../../peers/peer-messages.js';
import { AnswerWriter } from './answer-writer.js';
import { asks, FanoutCache } from './fanout-cache.js';
import { InquiryAdmission } from './inquiry-admission.js';
import type { Fanout, FanoutInquiry } from './fanout-cache.js';
import { FanoutRepository } from './fanout.repository.js';
import type { AnswerRow, FinalizedInquiry } from './fanout.repository.js';
import { DeceasedReportsRepository } from '../../linkages/deceased-reports.repository.js';
import type { DeceasedReport } from '../../linkages/deceased-reports.repository.js';

/** Job data: ids only, never personal data. */
export interface FanoutJobData {
  fanoutId: string;
}
export interface NodeJobData extends FanoutJobData {
  /** The peer nodes this job asks (PEER_NODES_PER_JOB of the fan-out's nodes). */
  nodeIds: string[];
  /** A job queued by a version that asked one node per job. */
  nodeId?: string;
  /** Some inquiries of the fan-out were begun by a fan-out that was lost. */
  resumed: boolean;
  /** Epoch ms when the fan-out began: the per-node deadline counts from it. */
  startedAt: number;
}

/** How long registered peers are cached; a change reaches fan-outs after at most this. */
const PEER_CACHE_MS = 5000;

/** The requesting institution acts in every audit row of its inquiry. */
function requesterActor(inquiry: FanoutInquiry): AuditActor {
  return {
    actorType: 'institution',
    institutionId: inquiry.institutionId,
    apiKeyId: inquiry.apiKeyId ?? undefined,
    branchCode: inquiry.branchCode,
    operatorId: inquiry.operatorId,
  };
}

/**
 * The fan-out. Queued inquiries are admitted together (up to PEER_BATCH_SIZE, one
 * kind at a time, disaster first) into one BullMQ flow: a child job answers for the
 * hosted institutions in one query, one child job per PEER_NODES_PER_JOB peer nodes sends
 * each of them one message carrying every query, and the parent makes the inquiries final once every
 * child is done. Each child writes its answers under (inquiry, node), so a job that
 * runs twice changes nothing; the reconciler covers deadlines and lost jobs.
 */
@Injectable()
export class FanoutService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly workers: Worker[] = [];
  /** Registered peers, read once for the thousands of node jobs of a fan-out. */
  private peerCache?: { at: number; peers: Promise<Map<string, PeerNode>> };
  /** Per cached inquiry (FanoutCache), its checked location query: gone with the cache entry. */
  private readonly peerQueries = new WeakMap<FanoutInquiry, LocationQuery>();

  constructor(
    private readonly db: DataSource,
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectFlowProducer(FANOUT_FLOW_PRODUCER) private readonly flows: FlowProducer,
    private readonly repository: FanoutRepository,
    private readonly answers: AnswerWriter,
    private readonly admission: InquiryAdmission,
    private readonly deceasedReports: DeceasedReportsRepository,
    private readonly cache: FanoutCache,
    private readonly hosted: HostedLocations,
    private readonly hostedNumbering: HostedNumbering,
    private readonly peers: PeersRepository,
    private readonly peerClient: PeerClient,
    private readonly audit: AuditService,
    private readonly webhooks: WebhooksService,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(FanoutService.name);
  }

  onApplicationBootstrap(): void {
    const common = {
      // Its own connections, which BullMQ closes with the worker.
      connection: bullmqConnectionOptions(this.config),
      prefix: queuePrefix(this.config, QueueName.Inquiries),
      lockDuration: this.config.JOB_LOCK_DURATION_MS,
      stalledInterval: Math.max(1000, Math.floor(this.config.JOB_LOCK_DURATION_MS / 2)),
    };
    this.workers.push(
      new Worker(QueueName.Inquiries, (job) => this.processInquiryJob(job), { ...common, concurrency: 8 }),
      new Worker(QueueName.PeerQueries, (job: Job<NodeJobData>) => this.askNodes(job), {
        ...common,
        concurrency: nodeJobConcurrency(this.config),
        settings: { backoffStrategy: peerRetryDelay(this.config) },
      }),
    );
    for (const worker of this.workers) {
      worker.on('error', (error) => this.logger.warn({ err: error, queue: worker.name }, 'queue worker error'));
      worker.on('failed', (job, error) =>
        this.logger.warn({ err: error, job: job?.name, attempts: job?.attemptsMade }, 'fan-out job failed'),
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Lets running jobs finish; what they could not finish is taken over after the lock.
    await Promise.all(this.workers.map((worker) => worker.close()));
  }

  private processInquiryJob(job: Job): Promise<unknown> {
    switch (job.name) {
      case JobName.AdmitInquiries:
        return this.admit();
      case JobName.FanoutHosted:
        return this.answerHosted(job.data as FanoutJobData);
      case JobName.FanoutFinish:
        return this.finish(job.data as FanoutJobData);
      default:
        throw new Error(`unknown inquiry job ${job.name}`);
    }
  }

  /**
   * Admits queued inquiries, a fan-out of up to PEER_BATCH_SIZE at a time, while
   * fewer than FANOUTS_IN_FLIGHT fan-outs run; each finished fan-out admits again.
   * While one runs, a batch that is not full waits to fill (FanoutRepository.claim):
   * a burst leaves in full batches, not as a first few fan-outs of a handful each that
   * cost as many messages as full ones and hold the fan-out slots. Held back, it is
   * looked at again after PEER_BATCH_WAIT_MS, and leaves at the latest once its oldest
   * inquiry has waited PEER_BATCH_MAX_WAIT_MS. An admission that finds another one
   * running (the advisory lock taken) looks again after PEER_BATCH_WAIT_MS too.
   *
   * One admission at a time in this process: a job that comes while one runs only asks it
   * to go round once more (what it claimed may predate inquiries committed since). Under
   * load, admission jobs came faster than the busy worker ran them, and waiting in line
   * they held the queue's slots that the fan-outs' hosted and finishing jobs need.
   */
  readonly admit = coalesced(() => this.admitRound(), { fanouts: 0, inquiries: 0 }, (total, round) => ({
    fanouts: total.fanouts + round.fanouts,
    inquiries: total.inquiries + round.inquiries,
  }));

  private async admitRound(): Promise<{ fanouts: number; inquiries: number }> {
    let fanouts = 0;
    let inquiries = 0;
    for (;;) {
      const fanoutId = randomUUID();
      const { claimed, heldBack } = await this.db.transaction(async (tx) => {
        // Another admission is running: it may have claimed before our inquiries were
        // committed, so look again after PEER_BATCH_WAIT_MS rather than wait in line.
        if (!(await this.repository.tryLockAdmission(tx))) return { claimed: [], heldBack: true };
        // Under load, inquiries wait here and leave in full batches: fewer, larger messages.
        const inFlight = await this.repository.fanoutsInFlight(tx);
        if (inFlight.fanouts >= this.config.FANOUTS_IN_FLIGHT) return { claimed: [], heldBack: false };
        const claimed = await this.repository.claim(
          tx,
          fanoutId,
          this.config.PEER_BATCH_SIZE,
          inFlight.mostUrgent === null ? undefined : { mostUrgent: inFlight.mostUrgent, maxWaitMs: this.config.PEER_BATCH_MAX_WAIT_MS },
        );
        return { claimed, heldBack: claimed.length === 0 && inFlight.fanouts > 0 && (await this.repository.anyQueued(tx)) };
      });
      if (heldBack) await this.admission.request(true);
      if (claimed.length === 0) break;
      // After the commit, so that the jobs see their inquiries; if this fails, the
      // reconciler re-queues them.
      await this.launch(fanoutId, claimed[0].kind, claimed.some((c) => c.resumed));
      fanouts += 1;
      inquiries += claimed.length;
      if (claimed.length < this.config.PEER_BATCH_SIZE) break;
    }
    return { fanouts, inquiries };
  }

  private async launch(fanoutId: string, kind: FanoutKind, resumed: boolean): Promise<void> {
    const nodes = await this.repository.nodes(this.db, fanoutId);
    const priority = PRIORITY[kind];
    const startedAt = Date.now();
    const childOptions = {
      priority,
      ignoreDependencyOnFailure: true,
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600 },
    };
    const children: NonNullable<FlowJob['children']> = [];
    if (nodes.includes(HOSTED_NODE_ID)) {
      children.push({
        name: JobName.FanoutHosted,
        queueName: QueueName.Inquiries,
        data: { fanoutId } satisfies FanoutJobData,
        opts: { ...childOptions, jobId: `fanout-${fanoutId}-hosted`, attempts: 5, backoff: { type: 'exponential', delay: 500 } },
      });
    }
    // Peer nodes in groups: one job per PEER_NODES_PER_JOB nodes, named by its first node
    // (the node list is sorted, so that a relaunch names its jobs the same way).
    const peerNodes = nodes.filter((nodeId) => nodeId !== HOSTED_NODE_ID).sort();
    for (let i = 0; i < peerNodes.length; i += this.config.PEER_NODES_PER_JOB) {
      const nodeIds = peerNodes.slice(i, i + this.config.PEER_NODES_PER_JOB);
      children.push({
        name: JobName.FanoutNode,
        queueName: QueueName.PeerQueries,
        data: { fanoutId, nodeIds, resumed, startedAt } satisfies NodeJobData,
        opts: {
          ...childOptions,
          jobId: `fanout-${fanoutId}-${nodeIds[0]}`,
          attempts: this.config.PEER_RETRY_ATTEMPTS,
          // Exponential, or longer where a peer asked for longer (peerRetryDelay).
          backoff: { type: PEER_BACKOFF, delay: this.config.PEER_RETRY_BACKOFF_MS },
        },
      });
    }
    await this.flows.add({
      name: JobName.FanoutFinish,
      queueName: QueueName.Inquiries,
      data: { fanoutId } satisfies FanoutJobData,
      opts: { jobId: `fanout-${fanoutId}`, priority, removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 } },
      children,
    });
    this.metrics.fanoutNodes.observe(nodes.length);
  }

  /** Inquiries of a fan-out still waiting for this node's answer. */
  private async pendingFor(fanout: Fanout, nodeId: string, recheck: boolean, institutionCodes: string[]): Promise<FanoutInquiry[]> {
    let pending = fanout.inquiries.filter((inquiry) => institutionCodes.some((code) => asks(inquiry, code)));
    if (recheck && pending.length > 0) {
      const done = await this.repository.answered(pending.map((i) => i.id), nodeId);
      pending = pending.filter((i) => !done.has(i.id));
    }
    return pending;
  }

  /** The hosted institutions' answer for a whole fan-out: one indexed query. */
  async answerHosted({ fanoutId }: FanoutJobData): Promise<{ answered: number }> {
    const fanout = await this.cache.get(fanoutId);
    const hostedCodes = await this.repository.hostedCodes();
    const pending = await this.pendingFor(fanout, HOSTED_NODE_ID, true, hostedCodes);
    if (pending.length === 0) return { answered: 0 };
    if (fanout.kind === 'numbering') return this.numberHosted(pending, hostedCodes);
    // Found only where the subject held there is the one the requester named.
    const matches = await this.hosted.locate(pending.map(hostedQuery));
    const inquiries = new Map(pending.map((i) => [i.id, i]));
    const byInquiry = new Map(pending.map((i) => [i.id, [] as typeof matches]));
    for (const match of matches) {
      const inquiry = inquiries.get(match.ref);
      if (inquiry && asks(inquiry, match.institutionCode)) byInquiry.get(match.ref)!.push(match);
    }
    await this.db.transaction(async (tx) => {
      const written = new Set(
        await this.repository.writeAnswers(
          tx,
          pending.map((i) => ({
            inquiryId: i.id,
            nodeId: HOSTED_NODE_ID,
            status: 'answered',
            found: byInquiry.get(i.id)!.map((m) => ({ code: m.institutionCode, accounts: m.accounts })),
          })),
        ),
      );
      const deceased: DeceasedReport[] = [];
      for (const inquiry of pending.filter((i) => written.has(i.id))) {
        const found = byInquiry.get(inquiry.id)!;
        if (found.length === 0) continue;
        const events: AuditEvent[] = found.map((m) => ({
          action: 'inquiry.subject-located',
          resourceType: 'inquiry',
          resourceId: inquiry.id,
          subjectId: m.subjectId,
          details: { kind: inquiry.kind, holder: m.institutionCode, accounts: m.accounts.length },
        }));
        if (inquiry.kind === 'inheritance') {
          for (const m of found) {
            deceased.push({ inquiryId: inquiry.id, dateOfDeath: inquiry.dateOfDeath!, evidence: deathEvidence(inquiry), linkageIds: m.linkageIds });
            events.push({
              action: 'linkage.holder-reported-deceased',
              resourceType: 'inquiry',
              resourceId: inquiry.id,
              subjectId: m.subjectId,
              details: { holder: m.institutionCode, linkageIds: m.linkageIds },
            });
          }
        }
        await this.audit.record(tx, requesterActor(inquiry), ...events);
      }
      await this.deceasedReports.record(tx, deceased);
    });
    return { answered: pending.length };
  }

  /**
   * Numbering requests at the hosted institutions: each request is matched and attached
   * by HostedNumbering (which audits its attachments, idempotently per request and
   * institution), then its answer row lists every hosted institution it asked. A job
   * that dies in between runs again and gets the same results.
   */
  private async numberHosted(pending: FanoutInquiry[], hostedCodes: string[]): Promise<{ answered: number }> {
    const rows: AnswerRow[] = [];
    for (const request of pending) {
      const codes = hostedCodes.filter((code) => asks(request, code));
      const results = await this.hostedNumbering.apply(numberingSubject(request), numberingOrigin(request, null), codes);
      rows.push({ inquiryId: request.id, nodeId: HOSTED_NODE_ID, status: 'answered', found: results.map(numberedInstitution) });
    }
    await this.repository.writeAnswers(this.db, rows);
    return { answered: pending.length };
  }

  /**
   * A node job: each of its nodes is asked at once (askNode), and each node's answer is
   * written as soon as it comes. If a node failed and has tries left, the job fails after
   * all its nodes are done and BullMQ retries it with the backoff; the retry asks again
   * only the nodes without an answer row (answered, or unreachable after their last try).
   */
  async askNodes(job: Job<NodeJobData>): Promise<{ queries: number; nodes: number; unreachable: number }> {
    const nodeIds = job.data.nodeIds ?? (job.data.nodeId ? [job.data.nodeId] : []);
    const outcomes = await Promise.allSettled(nodeIds.map((nodeId) => this.askNode(job, nodeId)));
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed.length > 0) {
      const error = failed[0].reason as Error & { retryAfterMs?: number };
      if (failed.length > 1) error.message = `${error.message} (and ${failed.length - 1} more of the job's ${nodeIds.length} nodes)`;
      // The job's retry waits as long as the most patient of its peers asked.
      const asked = failed.map((f) => (f.reason as { retryAfterMs?: unknown }).retryAfterMs).filter((ms): ms is number => typeof ms === 'number');
      if (asked.length > 0) Object.defineProperty(error, 'retryAfterMs', { value: Math.max(...asked), configurable: true });
      throw error;
    }
    const done = outcomes as PromiseFulfilledResult<{ queries: number; unreachable?: string }>[];
    return {
      queries: done.reduce((n, o) => n + o.value.queries, 0),
      nodes: nodeIds.length,
      unreachable: done.filter((o) => o.value.unreachable).length,
    };
  }

  /** One message to one peer node for every inquiry of the fan-out that asks it. */
  async askNode(job: Job<NodeJobData>, nodeId: string): Promise<{ queries: number; unreachable?: string }> {
    const { fanoutId, resumed, startedAt } = job.data;
    const fanout = await this.cache.get(fanoutId);
    const peer = (await this.activePeers()).get(nodeId);
    // A peer disabled since the fan-out began: its institutions end unreachable at finish.
    if (!peer) return { queries: 0, unreachable: 'unregistered' };
    const pending = await this.pendingFor(fanout, nodeId, resumed || job.attemptsMade > 0, peer.institutions.map((i) => i.code));
    if (pending.length === 0) return { queries: 0 };
    const unreachable = (failure: string) =>
      this.answers.write(pending.map((i) => ({ inquiryId: i.id, nodeId, status: 'unreachable', failure })));
    const deadline = startedAt + this.config.PEER_NODE_DEADLINE_SECONDS * 1000;
    if (job.attemptsMade > 0 && Date.now() >= deadline) {
      await unreachable('node deadline passed');
      return { queries: 0, unreachable: 'deadline' };
    }
    const begun = process.hrtime.bigint();
    const timeoutMs = Math.min(this.config.PEER_REQUEST_TIMEOUT_MS, Math.max(1, deadline - Date.now()));
    try {
      let rows: AnswerRow[];
      if (fanout.kind === 'numbering') {
        const notices = pending.map((request): NumberingNotice => {
          const { nameKana, birthDate, address } = numberingSubject(request);
          const origin = numberingOrigin(request, null);
          return {
            ref: request.id,
            myNumber: request.myNumber,
            nameKana,
            birthDate,
            address,
            institutions: peer.institutions.map((i) => i.code).filter((code) => asks(request, code)),
            origin: { requestId: origin.requestId, institutionCode: origin.institutionCode, branchCode: origin.branchCode, operatorId: origin.operatorId },
            verification: { numberDocument: origin.numberDocument, identityDocument: origin.identityDocument },
            consentAt: origin.consentAt,
          };
        });
        const results = await this.peerClient.notifyNumbering(peer, notices, { timeoutMs });
        rows = pending.map((request) => ({ inquiryId: request.id, nodeId, status: 'answered', found: results.get(request.id) ?? [] }));
      } else {
        const answers = await this.peerClient.locate(
          peer,
          fanout.kind!,
          pending.map((i) => this.peerQuery(i, fanout.kind as PeerPurpose)),
          { timeoutMs },
        );
        rows = pending.map((inquiry) => ({
          inquiryId: inquiry.id,
          nodeId,
          status: 'answered',
          found: (answers.get(inquiry.id) ?? []).filter((f: InstitutionFinding) => asks(inquiry, f.code)),
        }));
      }
      await this.answers.write(rows);
      this.metrics.peerMessages.inc({ node: peer.nodeId, outcome: 'answered' });
      this.metrics.peerAnswerSeconds.observe({ node: peer.nodeId }, Number(process.hrtime.bigint() - begun) / 1e9);
      this.metrics.peerBatchSize.observe(pending.length);
      return { queries: pending.length };
    } catch (error) {
      const reason = error instanceof PeerUnreachableError ? error.reason : 'error';
      this.metrics.peerMessages.inc({ node: peer.nodeId, outcome: reason });
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1) || Date.now() >= deadline;
      this.logger.warn(
        { peer: peer.nodeId, reason, attempt: job.attemptsMade + 1, last, err: error instanceof PeerUnreachableError ? undefined : error },
        'peer node did not answer',
      );
      if (!last) throw error;
      await unreachable(reason);
      return { queries: pending.length, unreachable: reason };
    }
  }

  /**
   * An inquiry's location query, built and checked once for the fan-out (the cached
   * inquiry is the same object for every node job of it), not once per node.
   */
  private peerQuery(inquiry: FanoutInquiry, purpose: PeerPurpose): LocationQuery {
    let query = this.peerQueries.get(inquiry);
    if (!query) {
      try {
        query = checkedLocationQuery(
          {
            ...hostedQuery(inquiry),
            // An heir's inquiry reports the death, with its date and evidence; a disaster inquiry never does.
            ...(inquiry.kind === 'inheritance' ? { deceased: { dateOfDeath: inquiry.dateOfDeath!, evidence: deathEvidence(inquiry) } } : {}),
          },
          purpose,
        );
      } catch (error) {
        // What the peer would refuse is our mistake: said so, not "unreachable".
        throw new TypeError(`invalid location query: ${(error as Error).message}`);
      }
      this.peerQueries.set(inquiry, query);
    }
    return query;
  }

  private activePeers(): Promise<Map<string, PeerNode>> {
    if (!this.peerCache || Date.now() - this.peerCache.at > PEER_CACHE_MS) {
      const peers = this.peers.listActive().then((list) => new Map(list.map((peer) => [peer.id, peer])));
      peers.catch(() => (this.peerCache = undefined));
      this.peerCache = { at: Date.now(), peers };
    }
    return this.peerCache.peers;
  }

  /** Every child is done: the fan-out's inquiries become final. */
  async finish({ fanoutId }: FanoutJobData): Promise<{ final: number }> {
    const finalized = await this.complete({ fanoutId }, 'no answer');
    this.cache.forget(fanoutId);
    // Room for the next fan-out: admit what waited.
    await this.admission.request();
    return { final: finalized.length };
  }

  /** Makes inquiries final (nodes without an answer are unreachable), audited. */
  async complete(which: { fanoutId: string } | { inquiryIds: string[] }, failure: string): Promise<FinalizedInquiry[]> {
    // A fan-out's inquiries become final together: their audit rows (per requesting
    // institution) and webhook outbox rows in one statement each, not two per inquiry
    // (which kept a fan-out's slot for seconds on a busy worker).
    let deliveries: string[] = [];
    const finalized = await this.db.transaction(async (tx) => {
      const rows = await this.repository.finalize(tx, which, failure);
      const events = new Map<string, AuditEvent[]>();
      for (const inquiry of rows) {
        const numbering = inquiry.kind === 'numbering';
        const of = events.get(inquiry.institutionId) ?? [];
        events.set(inquiry.institutionId, of);
        of.push(
          numbering
            ? { action: 'numbering.complete', resourceType: 'numbering-request', resourceId: inquiry.id, details: { status: inquiry.status } }
            : { action: 'inquiry.complete', resourceType: 'inquiry', resourceId: inquiry.id, details: { status: inquiry.status } },
        );
      }
      for (const [institutionId, of] of events) await this.audit.record(tx, { actorType: 'system', institutionId }, ...of);
      // The outbox: the webhook is announced if and only if the completion commits.
      deliveries = await this.webhooks.record(
        tx,
        rows.map((inquiry) =>
          inquiry.kind === 'numbering'
            ? {
                type: 'numbering-request.completed',
                institutionId: inquiry.institutionId,
                data: { numberingRequestId: inquiry.id, status: inquiry.status },
              }
            : {
                type: 'inquiry.completed',
                institutionId: inquiry.institutionId,
                data: { inquiryId: inquiry.id, kind: inquiry.kind, status: inquiry.status },
              },
        ),
      );
      return rows;
    });
    await this.webhooks.dispatch(deliveries);
    for (const inquiry of finalized) {
      this.metrics.inquiriesFinal.inc({ kind: inquiry.kind, status: inquiry.status });
      this.metrics.inquiryDuration.observe({ kind: inquiry.kind, status: inquiry.status }, inquiry.durationSeconds);
    }
    return finalized;
  }
}

/** The node jobs' backoff type (BullMQ hands it to peerRetryDelay, the worker's strategy). */
export const PEER_BACKOFF = 'peer';

/**
 * The wait before a node job's next attempt: PEER_RETRY_BACKOFF_MS doubling per attempt,
 * or what a peer asked with Retry-After (a 429 when our quota there is spent, a 503) when
 * that is longer — but never past the node's deadline (PEER_NODE_DEADLINE_SECONDS), after
 * which the retry only records the nodes unreachable. A peer's "retry at once" does not
 * make retries faster than the schedule.
 */
export function peerRetryDelay(config: Pick<AppConfig, 'PEER_RETRY_BACKOFF_MS' | 'PEER_NODE_DEADLINE_SECONDS'>) {
  return (attemptsMade: number, _type?: string, error?: Error): number => {
    const schedule = config.PEER_RETRY_BACKOFF_MS * 2 ** Math.max(0, attemptsMade - 1);
    const asked = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    const wanted = typeof asked === 'number' && Number.isFinite(asked) ? Math.max(schedule, asked) : schedule;
    return Math.min(wanted, config.PEER_NODE_DEADLINE_SECONDS * 1000);
  };
}

/**
 * Node jobs a worker runs at once: at most PEER_CONCURRENCY peer messages in flight (the
 * connections of the peer client's pool), as each job sends PEER_NODES_PER_JOB; at least one job.
 */
export function nodeJobConcurrency(config: Pick<AppConfig, 'PEER_CONCURRENCY' | 'PEER_NODES_PER_JOB'>): number {
  return Math.max(1, Math.floor(config.PEER_CONCURRENCY / config.PEER_NODES_PER_JOB));
}

/** A location query for an inquiry: the number and the subject named (name key, birth date). */
function hostedQuery(inquiry: FanoutInquiry): HostedQuery {
  return { ref: inquiry.id, myNumber: inquiry.myNumber, nameKey: nameKey(inquiry.nameKana)!, birthDate: inquiry.birthDate };
}

/** An inheritance inquiry's documents evidencing the death. */
function deathEvidence(inquiry: FanoutInquiry): DeathEvidence[] {
  return inquiry.evidence
    .filter((e): e is DeathEvidence => (DEATH_EVIDENCE as readonly string[]).includes(e.type))
    .map((e) => ({ type: e.type, reference: e.reference }));
}

function numberingSubject(request: FanoutInquiry): NumberingSubject {
  const fields = request.numbering!;
  return { myNumber: request.myNumber, nameKana: fields.nameKana, birthDate: fields.birthDate, address: fields.address };
}

/** Where a numbering request was made: here (nodeId null) when this node's fan-out carries it. */
function numberingOrigin(request: FanoutInquiry, nodeId: string | null): NumberingOrigin {
  const fields = request.numbering!;
  return {
    requestId: request.id,
    nodeId,
    institutionCode: request.institutionCode,
    branchCode: request.branchCode,
    operatorId: request.operatorId,
    numberDocument: fields.numberDocument,
    identityDocument: fields.identityDocument,
    consentAt: fields.consentAt,
  };
}

/** Only the members of an answer (what HostedNumbering returns may hold more). */
function numberedInstitution(r: NumberedInstitution): NumberedInstitution {
  return {
    code: r.code,
    status: r.status,
    ...(r.status === 'attached' && r.accounts !== undefined ? { accounts: r.accounts } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  };
}
