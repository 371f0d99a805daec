const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08006',
  '53300', // too_many_connections
  // read_only_sql_transaction: the address still leads to a standby (a failover not yet
  // switched, or a former primary come back as a replica). No primary to write to.
  '25006',
]);

const CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection terminated unexpectedly',
  'the database system is starting up',
  'the database system is shutting down',
  'the database system is not yet accepting connections',
  'the database system is in recovery mode',
  'Client was closed and is not queryable',
  'Connection terminated due to connection timeout',
];

/**
 * TypeORM's query runner releases itself when its connection reports an error (the server
 * gone, the proxy closing it): the transaction's next statement then fails with one of
 * these, whatever the moment of the loss. Nothing was committed.
 */
const RELEASED_RUNNER_ERRORS = new Set(['QueryRunnerProviderAlreadyReleasedError', 'QueryRunnerAlreadyReleasedError']);

export function pgErrorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * True when the error says that Postgres could not be reached, or that what answered
 * cannot take writes (a failover under way), not that a query was wrong: the request
 * is answered 503 with Retry-After, never 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = pgErrorCode(error);
  if (code && CONNECTION_CODES.has(code)) return true;
  const name = (error as { name?: unknown })?.name;
  if (typeof name === 'string' && RELEASED_RUNNER_ERRORS.has(name)) return true;
  const message = (error as { message?: unknown })?.message;
  return typeof message === 'string' && CONNECTION_MESSAGES.some((m) => message.includes(m));
}

/** Raised by the trigger that keeps an institution code unique across hosted and peer institutions. */
export const INSTITUTION_CODE_TAKEN = 'KH002';
