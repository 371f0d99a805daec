import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A Postgres cluster of its own for a test: a primary and a synchronous hot standby
 * made with the machine's initdb and pg_basebackup, in a temporary directory, on ports
 * the test picks. Postgres refuses to run as root: as root, every Postgres program
 * runs as the `postgres` user, which owns the data directories.
 */

/** The newest /usr/lib/postgresql/N/bin, or PG_BIN_DIR. */
export function postgresBinDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('no Postgres binaries under /usr/lib/postgresql (set PG_BIN_DIR)');
  return join(root, versions[0], 'bin');
}

/** The uid and gid to run Postgres as: the `postgres` user when we are root, else ourselves. */
function postgresIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** A free loopback TCP port in [from, to], tried in a random order. */
export async function freePortIn(from: number, to: number, taken: number[] = []): Promise<number> {
  const candidates = Array.from({ length: to - from + 1 }, (_, i) => from + i).filter((p) => !taken.includes(p));
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  for (const port of candidates) {
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${from}-${to}`);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One Postgres server (postmaster) of the cluster. */
export class PostgresNode {
  private process?: ChildProcess;
  private exited?: Promise<void>;
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    readonly dataDir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly identity: { uid: number; gid: number } | undefined,
  ) {}

  /** postgres://postgres@127.0.0.1:port/database */
  url(database = 'postgres', user = 'postgres'): string {
    return `postgres://${user}@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    // Its own process group, so that kill() takes the postmaster and every backend at once.
    const child = spawn(join(this.bin, 'postgres'), ['-D', this.dataDir, '-p', String(this.port), '-k', this.dataDir, '-c', 'listen_addresses=127.0.0.1'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...this.identity,
    });
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 400) this.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(`postgres ${this.name}`, async () => {
      if (child.exitCode !== null) throw new Error(`postgres ${this.name} exited: ${this.output.join('')}`);
      const client = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    });
  }

  /** One statement as the superuser, on a connection of its own. */
  async query<T = any>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    const client = new pg.Client({ connectionString: this.url(database), connectionTimeoutMillis: 3000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** SIGKILL to the postmaster and all its backends: the machine is gone, nothing is flushed or said goodbye. */
  async kill(): Promise<void> {
    if (!this.process?.pid || this.process.exitCode !== null) return;
    try {
      process.kill(-this.process.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await this.exited;
  }

  /** A fast shutdown (SIGINT), for the end of the test. */
  async stop(): Promise<void> {
    if (!this.process?.pid || this.process.exitCode !== null) return;
    process.kill(this.process.pid, 'SIGINT');
    const timer = setTimeout(() => this.kill(), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface PostgresClusterOptions {
  /** Three distinct free ports, or a range to pick them from. */
  ports: { from: number; to: number };
  /** The standby's application_name, the one synchronous_standby_names names. */
  standbyName?: string;
}

/**
 * A primary and one synchronous standby (streaming replication, hot standby for reads).
 * Commits on the primary wait until the standby has the WAL on disk
 * (synchronous_commit = on, synchronous_standby_names = the standby).
 */
export class PostgresCluster {
  private constructor(
    readonly root: string,
    readonly primary: PostgresNode,
    readonly standby: PostgresNode,
    readonly standbyName: string,
  ) {}

  static async create(options: PostgresClusterOptions): Promise<PostgresCluster> {
    const bin = postgresBinDir();
    const identity = postgresIdentity();
    const root = mkdtempSync(join(tmpdir(), 'kouza-pg-cluster-'));
    if (identity) chownSync(root, identity.uid, identity.gid);
    const run = (program: string, args: string[]) =>
      execFileSync(join(bin, program), args, { ...identity, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });

    const primaryPort = await freePortIn(options.ports.from, options.ports.to);
    const standbyPort = await freePortIn(options.ports.from, options.ports.to, [primaryPort]);
    const standbyName = options.standbyName ?? 'standby1';

    const primaryDir = join(root, 'primary');
    run('initdb', ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    // pg_hba.conf from initdb --auth=trust already lets loopback replicate.
    appendFileSync(
      join(primaryDir, 'postgresql.conf'),
      [
        '',
        '# kouza-hub failover test: a primary with a synchronous standby',
        'wal_level = replica',
        'max_wal_senders = 5',
        'synchronous_commit = on',
        'max_connections = 100',
        'shared_buffers = 32MB',
        'hot_standby = on',
        "log_min_messages = warning",
        '',
      ].join('\n'),
    );
    const primary = new PostgresNode('primary', primaryDir, primaryPort, bin, identity);
    await primary.start();

    const standbyDir = join(root, 'standby');
    run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standbyDir, '-X', 'stream', '-R', '--no-sync']);
    // -R wrote standby.signal and a primary_conninfo; this one (the last wins) names the standby.
    appendFileSync(
      join(standbyDir, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres application_name=${standbyName}'\n`,
    );
    const standby = new PostgresNode('standby', standbyDir, standbyPort, bin, identity);
    await standby.start();

    // Synchronous from here on (the standby's configuration, copied before, does not have it).
    await primary.query(`ALTER SYSTEM SET synchronous_standby_names = '${standbyName}'`);
    await primary.query('SELECT pg_reload_conf()');
    await waitFor('synchronous standby', async () => {
      const rows = await primary.query(`SELECT sync_state FROM pg_stat_replication WHERE application_name = $1`, [standbyName]);
      return rows[0]?.sync_state === 'sync';
    });
    return new PostgresCluster(root, primary, standby, standbyName);
  }

  /** Promotes the standby to primary and waits until it takes writes. */
  async promoteStandby(): Promise<void> {
    await this.standby.query('SELECT pg_promote(true, 30)');
    await waitFor('promoted standby', async () => (await this.standby.query(`SELECT pg_is_in_recovery() AS r`))[0].r === false);
  }

  async destroy(): Promise<void> {
    await this.primary.stop().catch(() => undefined);
    await this.standby.stop().catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * HAProxy in TCP mode: the virtual addresses the service connects to. `write` routes to
 * the primary, `read` to the replica; the runtime API (a stats socket) moves a server
 * to another address, as a deployment's failover does.
 */
export class HaproxyAddress {
  private process?: ChildProcess;
  private exited?: Promise<void>;
  readonly output: string[] = [];

  private constructor(
    readonly dir: string,
    readonly writePort: number,
    readonly readPort: number,
  ) {}

  get socketPath(): string {
    return join(this.dir, 'haproxy.sock');
  }

  static async start(options: { ports: { from: number; to: number }; primaryPort: number; replicaPort: number; taken?: number[] }): Promise<HaproxyAddress> {
    const binary = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';
    if (!existsSync(binary)) throw new Error(`${binary} is missing (apt-get install haproxy)`);
    const taken = [options.primaryPort, options.replicaPort, ...(options.taken ?? [])];
    const writePort = await freePortIn(options.ports.from, options.ports.to, taken);
    const readPort = await freePortIn(options.ports.from, options.ports.to, [...taken, writePort]);
    const dir = mkdtempSync(join(tmpdir(), 'kouza-haproxy-'));
    const proxy = new HaproxyAddress(dir, writePort, readPort);
    // A server found down (a TCP check every 200 ms) has its sessions cut at once; a
    // client connecting while none is up is accepted and closed (the pool sees it fail).
    const server = (port: number) => `server pg 127.0.0.1:${port} check inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions`;
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      [
        'global',
        `  stats socket ${proxy.socketPath} mode 600 level admin`,
        '  stats timeout 10s',
        'defaults',
        '  mode tcp',
        '  timeout connect 1s',
        '  timeout client 1h',
        '  timeout server 1h',
        'frontend pg_write',
        `  bind 127.0.0.1:${writePort}`,
        '  default_backend pg_primary',
        'backend pg_primary',
        `  ${server(options.primaryPort)}`,
        'frontend pg_read',
        `  bind 127.0.0.1:${readPort}`,
        '  default_backend pg_replica',
        'backend pg_replica',
        `  ${server(options.replicaPort)}`,
        '',
      ].join('\n'),
    );
    const child = spawn(binary, ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      proxy.output.push(chunk.toString());
      if (proxy.output.length > 200) proxy.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    proxy.process = child;
    proxy.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor('haproxy', async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${proxy.output.join('')}`);
      return (await proxy.command('show info')).includes('Name: HAProxy');
    });
    return proxy;
  }

  /** One command on the runtime API; its answer. */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(this.socketPath);
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('error', reject);
      socket.on('end', () => resolve(answer));
      socket.on('connect', () => socket.write(`${line}\n`));
    });
  }

  /** Points the write address at another server (the promoted standby). */
  async switchPrimary(port: number): Promise<void> {
    const answer = await this.command(`set server pg_primary/pg addr 127.0.0.1 port ${port}`);
    if (!/changed/i.test(answer)) throw new Error(`haproxy refused the switch: ${answer}`);
    await this.command('enable server pg_primary/pg');
  }

  /** Takes the read address down (the replica lost) or back up. */
  async setReplica(up: boolean): Promise<void> {
    if (up) {
      await this.command('enable server pg_replica/pg');
    } else {
      await this.command('disable server pg_replica/pg');
      await this.command('shutdown sessions server pg_replica/pg');
    }
  }

  async stop(): Promise<void> {
    if (this.process?.exitCode === null) {
      this.process.kill('SIGTERM');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
