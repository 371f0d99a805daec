import 'reflect-metadata';
import {
  DEFAULT_DATABASE_URL,
  DEFAULT_REGISTER_IMPORT_MAX_ERRORS,
  DEFAULT_REGISTER_REBUILD_PERCENT,
  migrationDatabaseUrl,
} from './cli-settings.js';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';

const SECRET_KEYS = new Set<string>();

/** Marks a variable whose value must never be printed (config dumps, errors). */
function Secret(): PropertyDecorator {
  return (_target, key) => {
    SECRET_KEYS.add(String(key));
  };
}

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === '' ? undefined : Number(value);

/** `true` / `false` to a boolean; anything else is kept, so that the rule refuses it. */
const toBool = ({ value }: { value: unknown }) => (value === 'true' || value === true ? true : value === 'false' || value === false ? false : value);

/**
 * Every environment variable the service reads, with its default and its rule.
 * Loaded and validated once, before Nest boots; the README's configuration table
 * is the reference for these.
 */
export class AppConfig {
  /** `production` refuses generated keys and requires every secret to be set. */
  @IsIn(['development', 'test', 'production'])
  NODE_ENV: 'development' | 'test' | 'production' = 'development';

  /** Where the API listens. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  /** The address the API (and the worker's metrics endpoint) binds. */
  @IsString()
  HOST = '0.0.0.0';

  /**
   * A port of its own for the operations surface (`/metrics`, `/queues`, `/docs`): when
   * set, those are served there only, not on PORT (which then serves the API and
   * `/health`). Unset: everything on PORT.
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  OPS_PORT?: number;

  /** The address OPS_PORT binds: an internal interface (the default, loopback) in production. */
  @IsString()
  OPS_HOST = '127.0.0.1';

  /**
   * API processes sharing the port (node:cluster): a Node process uses one core, so
   * a machine with spare cores runs more than one. 1 = no cluster.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  API_PROCESSES = 1;

  /**
   * Postgres, as the service's own role: `kouza_app`, which the migrations create and
   * grant (it may append to the audit trail but not change, delete or truncate it, nor
   * alter its tables). The database is created on start if it does not exist.
   */
  @Secret()
  @Matches(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// URL' })
  DATABASE_URL = DEFAULT_DATABASE_URL;

  /**
   * Postgres as the owner of the schema: migrations (and creating the database) run
   * with it, the service never does. Unset: DATABASE_URL with the user `postgres` (no
   * password) when DATABASE_URL's user is `kouza_app` (the local trust-auth set-up),
   * else DATABASE_URL itself (one role for both, as before: the service then warns that
   * its role can rewrite the audit trail).
   */
  @Secret()
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// URL' })
  MIGRATION_DATABASE_URL?: string;

  /**
   * A read replica (a hot standby), as the service's role: only the reads that may be
   * stale go there (an inquiry's and a numbering request's status, their lists); linkage
   * checks and every read that decides a write stay on DATABASE_URL. When it cannot be
   * reached those reads go to the primary (and /health says `degraded`). Unset: every
   * read on the primary.
   */
  @Secret()
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// URL' })
  DATABASE_READ_URL?: string;

  /** Connections per process; on a machine shared with Postgres, fewer is faster (the benchmark uses 4). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE = 20;

  /** How long a request waits for a Postgres connection before answering 503. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  DATABASE_CONNECT_TIMEOUT_MS = 2000;

  /** Redis: BullMQ, rate-limit buckets, health. */
  @Secret()
  @Matches(/^rediss?:\/\//, { message: 'must be a redis:// or rediss:// URL' })
  REDIS_URL = 'redis://127.0.0.1:6379';

  /**
   * Redis Cluster: some of its nodes, `host:port` separated by commas (the client learns
   * the others from them). When set, BullMQ, rate limits and health use the cluster, with
   * REDIS_URL's user, password and TLS (`rediss://`) for every node (its host is then
   * unused). Unset: the single Redis at REDIS_URL.
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]+:\d{1,5}(,[A-Za-z0-9._-]+:\d{1,5})*$/, { message: 'must be host:port[,host:port…]' })
  REDIS_CLUSTER_NODES?: string;

  /**
   * The base of BullMQ's key prefixes. Each queue family gets its own hash tag from it
   * (`{kouza-hub:inquiries}` for inquiries, peer queries and their flows, `{kouza-hub:webhooks}`,
   * `{kouza-hub:register}`, …), so that on Redis Cluster the families spread over the
   * masters while a flow's queues stay in one slot. Braces are optional (dropped).
   */
  @IsString()
  @Matches(/^(\{[A-Za-z0-9:_-]{1,56}\}|[A-Za-z0-9:_-]{1,56})$/)
  QUEUE_PREFIX = '{kouza-hub}';

  /** The operator's key: accepted with every admin scope. Unset: no admin access. */
  @Secret()
  @IsOptional()
  @IsString()
  @MinLength(24, { message: 'must be at least 24 characters' })
  ADMIN_API_KEY?: string;

  /**
   * Whether the queue dashboard (/queues) may act on jobs and queues (retry, promote,
   * clean, pause, empty…). `false`: it only shows them.
   */
  @Transform(toBool)
  @IsIn([true, false])
  QUEUE_DASHBOARD_ACTIONS = false;

  /** Inquiries: nodes that have not answered by then are `unreachable`. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  INQUIRY_DEADLINE_SECONDS = 120;

  /** pino level; one line per request at `info`. */
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /** Largest accepted request body; larger ones answer 413. */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  BODY_LIMIT_BYTES = 65536;

  /**
   * Deepest nesting of objects and arrays in a JSON body (the body is level 1); deeper
   * bodies answer 400 JSON_LIMIT_EXCEEDED before they are parsed.
   */
  @Transform(toInt)
  @IsInt()
  @Min(4)
  @Max(256)
  JSON_MAX_DEPTH = 32;

  /**
   * Most items in any one array of a JSON body; longer arrays answer 400
   * JSON_LIMIT_EXCEEDED before they are parsed. At least the longest list a request
   * takes (5000 target institutions of an inquiry).
   */
  @Transform(toInt)
  @IsInt()
  @Min(5000)
  JSON_MAX_ARRAY_ITEMS = 5000;

  /** Largest account register upload (POST /v1/register-imports); larger ones answer 413. */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  REGISTER_UPLOAD_LIMIT_BYTES = 2 * 1024 ** 3;

  /**
   * Bytes of uploaded registers an institution may have spooled (register_import_chunks)
   * at once, the upload being received included; an upload that would exceed it answers
   * 413 REGISTER_SPOOL_FULL and its spooled bytes are removed.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  REGISTER_SPOOL_MAX_BYTES_PER_INSTITUTION = 2 * 1024 ** 3;

  /** Row errors kept in a register import's report (all are counted). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  REGISTER_IMPORT_MAX_ERRORS = DEFAULT_REGISTER_IMPORT_MAX_ERRORS;

  /**
   * A full import into a non-empty register changes the rows in place when it changes at
   * most this percentage of them, and builds the partition anew (then swaps it in) above.
   * In place, each change costs index maintenance; a rebuild costs the whole register.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100)
  REGISTER_REBUILD_PERCENT = DEFAULT_REGISTER_REBUILD_PERCENT;

  /**
   * Envelope-encryption master keys, `id:base64(32 bytes)` separated by commas.
   * Outside production a missing value is generated into KEYS_FILE.
   */
  @Secret()
  @IsOptional()
  @IsString()
  MASTER_KEYS?: string;

  /** Id (from MASTER_KEYS) that wraps new data keys; defaults to the first. */
  @IsOptional()
  @IsString()
  MASTER_KEY_ACTIVE_ID?: string;

  /** Blind-index HMAC keys, `version:base64(32 bytes)` separated by commas. */
  @Secret()
  @IsOptional()
  @IsString()
  BLIND_INDEX_KEYS?: string;

  /** Version (from BLIND_INDEX_KEYS) used for new rows; defaults to the highest. */
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(1)
  BLIND_INDEX_ACTIVE_VERSION?: number;

  /**
   * This node's id towards peer nodes (the `kid`, `iss` and `aud` of node-to-node
   * messages). Outside production a missing value is generated into KEYS_FILE.
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: 'must be 1-64 of A-Z a-z 0-9 . _ -' })
  NODE_ID?: string;

  /** This node's Ed25519 signing key, a private JWK (JSON). Generated outside production when missing. */
  @Secret()
  @IsOptional()
  @IsString()
  NODE_SIGNING_KEY?: string;

  /** This node's X25519 encryption key, a private JWK (JSON). Generated outside production when missing. */
  @Secret()
  @IsOptional()
  @IsString()
  NODE_ENCRYPTION_KEY?: string;

  /**
   * This node's keys of before a rotation: a JSON array of `{signingKey?, encryptionKey?,
   * retiredAt}` (JWKs as the two settings above held them; ISO 8601). The previous
   * signing key is published at GET /v1/node, and the previous encryption key still
   * opens messages, until retiredAt + NODE_KEY_GRACE_SECONDS.
   */
  @Secret()
  @IsOptional()
  @IsString()
  NODE_PREVIOUS_KEYS?: string;

  /** How long a previous node key stays valid after its retiredAt (peers refuse its signatures after). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  NODE_KEY_GRACE_SECONDS = 7 * 24 * 3600;

  /** How often the worker fetches every enabled peer's GET /v1/node to learn rotated keys. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  PEER_KEY_REFRESH_INTERVAL_MS = 3_600_000;

  /** How long an outbound peer request may take before the node counts as unreachable. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  PEER_REQUEST_TIMEOUT_MS = 5000;

  /** Lifetime (exp - iat) of the node-to-node messages this node sends; peers refuse more than 600. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(600)
  PEER_MESSAGE_TTL_SECONDS = 60;

  /**
   * Largest node-to-node message accepted (application/jose): a message carries many
   * queries, and the envelope's two base64url layers add almost 80 %.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  PEER_BODY_LIMIT_BYTES = 1_048_576;

  /**
   * Default inbound quota of each peer node: queries (and numbering notices) per minute,
   * counted per query and refilled continuously (a token bucket of one minute's worth,
   * shared by every API process through Redis); over it a message is answered 429
   * PEER_QUOTA_EXCEEDED. 0 = not limited. A peer's own quota (POST /v1/peers
   * `queriesPerMinute`) replaces it.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  PEER_QUERIES_PER_MINUTE = 12_000;

  /**
   * Messages per minute each client address may send to the peer routes, whoever it
   * says it is, counted before the message is read (a token bucket in Redis); over it,
   * 429 PEER_RATE_LIMITED. Behind a proxy every peer shares the proxy's address: size
   * it for all of them. 0 = not limited.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  PEER_IP_RATE_LIMIT_PER_MINUTE = 6000;

  /** Messages one address may send at once above that rate (the bucket's size). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  PEER_IP_RATE_LIMIT_BURST = 1000;

  /** Where generated development keys are kept (never read in production). */
  @IsString()
  KEYS_FILE = '.keys/dev-keys.json';

  /** Rows a key rotation moves per transaction (its cursor is committed with each batch). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(50_000)
  KEY_ROTATION_BATCH_SIZE = 1000;

  /** Pause between a key rotation's batches, to leave the database room for the traffic; 0: none. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  KEY_ROTATION_BATCH_PAUSE_MS = 0;

  /** How often the worker re-enqueues unfinished key rotations that no batch has advanced for that long. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  KEY_ROTATION_RESUME_INTERVAL_MS = 60_000;

  /**
   * How often the worker looks for register uploads that nothing will finish: spooled ones
   * whose job Redis lost (enqueued again) and ones that broke off mid-upload (failed).
   */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  REGISTER_IMPORT_SWEEP_INTERVAL_MS = 60_000;

  /**
   * An upload that has not written to its spool for this long, is not spooled whole and
   * has no job, broke off (the API died mid-request): the sweeper marks it failed.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  REGISTER_UPLOAD_IDLE_TIMEOUT_MS = 300_000;

  /** How long an Idempotency-Key and its stored answer are kept. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  IDEMPOTENCY_TTL_HOURS = 24;

  /**
   * How long each API process remembers whether an institution has an account register
   * (attachments are checked against it only when it has one). A first import is
   * enforced at most this long after it completes; 0 asks the database every time.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  REGISTER_PRESENCE_CACHE_SECONDS = 5;

  /**
   * Key of the audit chain's links, base64 of 32 bytes: each link is HMAC-SHA-256 under
   * it, so that a row rewritten in the database cannot be re-linked without it. Outside
   * production a missing value is generated into KEYS_FILE; production requires it.
   */
  @Secret()
  @IsOptional()
  @IsString()
  AUDIT_CHAIN_KEY?: string;

  /**
   * Append-only log of the audit chain's signed checkpoints (one compact JWS per line,
   * one per seal), outside the database; the verifier checks the chain against its
   * last one. Put it where the database's administrators cannot write.
   */
  @IsString()
  @MinLength(1)
  AUDIT_CHECKPOINT_FILE = '.keys/audit-checkpoints.jsonl';

  /**
   * How many peer nodes witness this node's audit checkpoints (each seal's checkpoint is
   * sent to them; the verifier asks them). A stable choice among the enabled peers
   * (rendezvous hashing on the two node ids), so that it changes little as peers come
   * and go and each node's witnesses differ; 0 keeps checkpoints in the local log only.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1000)
  AUDIT_WITNESSES = 8;

  /** How often the worker seals new audit rows into the hash chain. */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  AUDIT_SEAL_INTERVAL_MS = 1000;

  /**
   * Most queries one message to a peer node carries (inquiries admitted together). A
   * message's cost is mostly its envelope's crypto, so under load bigger batches mean
   * fewer messages (200: about 20 KB per message).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  PEER_BATCH_SIZE = 200;

  /** How long a new inquiry waits for others to travel with it. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(5000)
  PEER_BATCH_WAIT_MS = 50;

  /**
   * While another fan-out is in flight, how long a batch that is not full may wait to
   * fill (its oldest inquiry's wait); a more urgent kind does not wait. 0: never waits.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60000)
  PEER_BATCH_MAX_WAIT_MS = 1000;

  /**
   * Fan-outs running at once across the workers; more inquiries wait and leave in
   * full batches. Raise it with more worker capacity.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  FANOUTS_IN_FLIGHT = 2;

  /** Tries per peer node and fan-out, with exponential backoff from PEER_RETRY_BACKOFF_MS. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  PEER_RETRY_ATTEMPTS = 4;

  /** First wait between tries to a peer node; it doubles after each (1 s, 2 s, 4 s). */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  PEER_RETRY_BACKOFF_MS = 1000;

  /** After this, a node that has not answered is unreachable for the inquiry (retries stop). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  PEER_NODE_DEADLINE_SECONDS = 60;

  /** Peer messages in flight per worker process. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10000)
  PEER_CONCURRENCY = 256;

  /**
   * Peer nodes per node job of a fan-out: a job sends its nodes their messages at once
   * and writes each node's answer on its own, so that a fan-out over 1,000 nodes is
   * 40 queue jobs rather than 1,000. A job that runs again skips the nodes already done.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  PEER_NODES_PER_JOB = 25;

  /** How often a worker reconciles Postgres with the queue (deadlines, lost jobs). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  RECONCILE_INTERVAL_MS = 5000;

  /** How long a worker's job lock lasts; a killed worker's jobs are taken over after it. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  JOB_LOCK_DURATION_MS = 30_000;

  /** Inquiry results (the account lists) are purged this many days after the inquiry is final. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  INQUIRY_RESULT_RETENTION_DAYS = 90;

  /** How long a webhook receiver has to answer one attempt. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  WEBHOOK_TIMEOUT_MS = 10_000;

  /**
   * After a webhook secret is rotated, how long the previous one keeps signing next to
   * it (both signatures in `webhook-signature`); 0 stops it at once.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(604_800)
  WEBHOOK_SECRET_OVERLAP_SECONDS = 86_400;

  /** Attempts per webhook delivery before it is `failed`. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  WEBHOOK_MAX_ATTEMPTS = 8;

  /** Wait after the first failed attempt; it doubles after each further one. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  WEBHOOK_BACKOFF_MS = 5000;

  /** How often the worker re-enqueues due webhook deliveries that have no job (e.g. Redis lost them). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  WEBHOOK_SWEEP_INTERVAL_MS = 30_000;

  /**
   * Port of the worker's own Prometheus endpoint (GET /metrics: the fan-out, queue and
   * retention metrics). 0 disables it. Each worker on one machine needs its own port.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  WORKER_METRICS_PORT = 9465;

  /**
   * Default rate limit of each institution API key: requests per minute, refilled
   * continuously (a token bucket). 0 turns rate limiting off for institution keys.
   * An institution's own limit (PUT /v1/institutions/{code}/rate-limit) replaces it.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PER_MINUTE = 1200;

  /** Requests an institution key may send at once above the steady rate (the bucket's size). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  RATE_LIMIT_BURST = 200;

  /** Rate limit of the operator key (ADMIN_API_KEY), requests per minute; 0 turns it off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  ADMIN_RATE_LIMIT_PER_MINUTE = 600;

  /** Burst of the operator key. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  ADMIN_RATE_LIMIT_BURST = 100;

  /** How long each API process keeps an institution's own rate limit before reading it again. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  RATE_LIMIT_CACHE_SECONDS = 10;

  /** Where migrations connect: MIGRATION_DATABASE_URL, or the default derived from DATABASE_URL. */
  get migrationDatabaseUrl(): string {
    return this.MIGRATION_DATABASE_URL ?? migrationDatabaseUrl(this.DATABASE_URL);
  }

  get isProduction(): boolean {
    return this.NODE_ENV === 'production';
  }
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map((message) =>
      // class-validator messages start with the property name; never append the value.
      message.startsWith(e.property) ? message : `${e.property} ${message}`,
    ),
  );
}

/** Reads and validates the configuration; throws a ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const known = Object.keys(new AppConfig());
  const raw: Record<string, string> = {};
  const optional = [
    'OPS_PORT',
    'ADMIN_API_KEY',
    'MASTER_KEYS',
    'MASTER_KEY_ACTIVE_ID',
    'BLIND_INDEX_KEYS',
    'BLIND_INDEX_ACTIVE_VERSION',
    'NODE_ID',
    'NODE_SIGNING_KEY',
    'NODE_ENCRYPTION_KEY',
    'NODE_PREVIOUS_KEYS',
    'MIGRATION_DATABASE_URL',
    'DATABASE_READ_URL',
    'AUDIT_CHAIN_KEY',
  ];
  for (const key of [...known, ...optional]) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(AppConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: true });
  if (errors.length > 0) throw new ConfigError(describe(errors));
  return config;
}

/** Whether a variable is a secret (never printed). */
export function isSecretSetting(key: string): boolean {
  return SECRET_KEYS.has(key);
}

/** The configuration with secrets replaced, for start-up logs. */
export function describeConfig(config: AppConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    out[key] = SECRET_KEYS.has(key) ? '[secret]' : value;
  }
  return out;
}
