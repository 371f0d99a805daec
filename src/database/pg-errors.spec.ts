import { describe, expect, it } from '@jest/globals';
import { QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';
import { isDatabaseUnavailable } from './pg-errors.js';

/** What a client sees while a primary dies, a standby is promoted and the address moves. */
describe('isDatabaseUnavailable', () => {
  const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  /** TypeORM's QueryFailedError carries the driver's error. */
  const wrapped = (error: Error) => Object.assign(new Error(error.message), { driverError: error });

  it.each([
    ['connection refused (nothing listens)', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['the connection reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['the server went away mid-query', new Error('Connection terminated unexpectedly')],
    ['the proxy closed before a server answered', new Error('Connection terminated')],
    ['the connect timeout', new Error('Connection terminated due to connection timeout')],
    ["the pool's wait for a connection", new Error('timeout exceeded when trying to connect')],
    ['a client left broken by an earlier error', new Error('Client has encountered a connection error and is not queryable')],
    ['a closed client', new Error('Client was closed and is not queryable')],
    ['57P01 admin_shutdown', pgError('57P01', 'terminating connection due to administrator command')],
    ['57P02 crash_shutdown', pgError('57P02')],
    ['57P03 cannot_connect_now (starting up)', pgError('57P03', 'the database system is starting up')],
    ['57P03 cannot_connect_now (recovery)', pgError('57P03', 'the database system is in recovery mode')],
    ['08006 connection_failure', pgError('08006')],
    ['08001 sqlclient_unable_to_establish_sqlconnection', pgError('08001')],
    ['25006 read_only_sql_transaction (the address leads to a standby)', pgError('25006', 'cannot execute INSERT in a read-only transaction')],
    ['25006 wrapped by TypeORM', wrapped(pgError('25006', 'cannot execute INSERT in a read-only transaction'))],
    ['53300 too_many_connections', pgError('53300')],
    // The connection lost mid-transaction: TypeORM released the runner, the next statement says so.
    ['a statement after the connection was lost (DataSource.query)', new QueryRunnerProviderAlreadyReleasedError()],
    ['a statement after the connection was lost (the runner)', new QueryRunnerAlreadyReleasedError()],
  ])('%s: unavailable (503)', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation', pgError('23505', 'duplicate key value violates unique constraint')],
    ['a syntax error', pgError('42601', 'syntax error at or near')],
    ['a statement timeout', pgError('57014', 'canceling statement due to statement timeout')],
    ['an ordinary error', new Error('something else')],
    ['not an error', undefined],
  ])('%s: not unavailable', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
