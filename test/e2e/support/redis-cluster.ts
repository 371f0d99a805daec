import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

interface ClusterNode {
  port: number;
  process?: ChildProcess;
}

/** A node's view of the cluster: its role and id, from CLUSTER NODES. */
interface NodeRole {
  id: string;
  port: number;
  master: boolean;
  failed: boolean;
  masterId?: string;
}

const live = new Set<LocalRedisCluster>();
process.once('exit', () => {
  for (const cluster of live) cluster.killAll();
});

/**
 * A real Redis Cluster on this machine, for a test: three masters, one replica each
 * (`redis-server --cluster-enabled yes`, joined with `redis-cli --cluster create`).
 * Each node's cluster bus port is its port + `busOffset`, so that every port it uses
 * is one the test chose. A low cluster-node-timeout makes a killed master's replica
 * take over within seconds. start() returns once every replica has synced. Torn down with stop(), or when the process exits.
 */
export class LocalRedisCluster {
  readonly nodes: ClusterNode[];
  private readonly dir = mkdtempSync(join(tmpdir(), 'kouza-redis-cluster-'));

  constructor(
    ports: number[],
    private readonly options: { busOffset: number; nodeTimeoutMs?: number; appendonly?: boolean },
  ) {
    if (ports.length !== 6) throw new Error('three masters and three replicas: six ports');
    this.nodes = ports.map((port) => ({ port }));
  }

  /** `host:port,…` of every node, as REDIS_CLUSTER_NODES takes it. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  async start(): Promise<void> {
    live.add(this);
    for (const node of this.nodes) this.spawn(node);
    for (const node of this.nodes) await waitFor(() => ping(node.port), `redis-server on ${node.port}`);
    const create = ['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'];
    await run('redis-cli', create).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`redis-cli --cluster create failed: ${error.stdout ?? ''} ${error.stderr ?? ''}`);
    });
    await this.waitUntilOk();
    // A replica that has not finished its first sync could not take over.
    await waitFor(async () => {
      let replicas = 0;
      for (const node of this.running()) {
        const info = await command(node.port, 'INFO', 'replication');
        if (!/^role:slave\s*$/m.test(info)) continue;
        if (!/^master_link_status:up\s*$/m.test(info) || !/^master_sync_in_progress:0\s*$/m.test(info)) return false;
        replicas++;
      }
      return replicas === 3;
    }, 'replicas in sync');
  }

  private spawn(node: ClusterNode): void {
    const args = [
      '--port', String(node.port),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-port', String(node.port + this.options.busOffset),
      '--cluster-config-file', join(this.dir, `nodes-${node.port}.conf`),
      '--cluster-node-timeout', String(this.options.nodeTimeoutMs ?? 2000),
      // A replica may take over however long ago it last heard from its master (the
      // default refuses after 10 node timeouts, which a loaded machine can reach).
      '--cluster-replica-validity-factor', '0',
      '--dir', this.dir,
      '--dbfilename', `dump-${node.port}.rdb`,
      '--appendfilename', `appendonly-${node.port}.aof`,
      '--appenddirname', `aof-${node.port}`,
      '--save', '',
      '--appendonly', this.options.appendonly ? 'yes' : 'no',
    ];
    node.process = spawn('redis-server', args, { stdio: 'ignore' });
  }

  /** Waits until every node that runs reports cluster_state:ok and agrees on 3 masters. */
  async waitUntilOk(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        for (const node of this.running()) {
          const info = await command(node.port, 'CLUSTER', 'INFO');
          if (!/^cluster_state:ok\s*$/m.test(info)) return false;
          const masters = (await this.roles(node.port)).filter((r) => r.master && !r.failed);
          if (masters.length !== 3) return false;
        }
        return true;
      },
      'cluster_state:ok',
      timeoutMs,
    );
  }

  /** The running masters' ports. */
  async masters(): Promise<number[]> {
    const roles = await this.roles(this.running()[0].port);
    const running = new Set(this.running().map((n) => n.port));
    return roles.filter((r) => r.master && !r.failed && running.has(r.port)).map((r) => r.port);
  }

  /** The master that serves a key's slot. */
  async masterOf(key: string): Promise<number> {
    const port = this.running()[0].port;
    const slot = Number(await command(port, 'CLUSTER', 'KEYSLOT', key));
    const slots = JSON.parse(JSON.stringify(await withClient(port, (r) => r.cluster('SLOTS')))) as [number, number, [string, number]][];
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no node serves slot ${slot}`);
    return range[2][1];
  }

  /** SIGKILLs a master; waitUntilOk() then waits for its replica to take over. */
  async killMaster(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    if (!node?.process) throw new Error(`no running node on ${port}`);
    const exited = new Promise((resolve) => node.process!.once('exit', resolve));
    node.process.kill('SIGKILL');
    await exited;
    node.process = undefined;
  }

  /** FLUSHALL on every running master (their replicas follow), as if the cluster had lost everything. */
  async flushAll(): Promise<void> {
    for (const port of await this.masters()) await command(port, 'FLUSHALL');
  }

  /** How many keys matching `pattern` each running master holds. */
  async keysPerMaster(pattern: string): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const port of await this.masters()) {
      counts.set(port, await withClient(port, async (r) => {
        let cursor = '0';
        let n = 0;
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          n += keys.length;
        } while (cursor !== '0');
        return n;
      }));
    }
    return counts;
  }

  async stop(): Promise<void> {
    const exits = this.running().map((n) => new Promise((resolve) => n.process!.once('exit', resolve)));
    this.killAll();
    await Promise.all(exits);
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  killAll(): void {
    for (const node of this.nodes) {
      node.process?.kill('SIGKILL');
      node.process = undefined;
    }
  }

  private running(): ClusterNode[] {
    return this.nodes.filter((n) => n.process && n.process.exitCode === null && n.process.signalCode === null);
  }

  private async roles(port: number): Promise<NodeRole[]> {
    const text = await command(port, 'CLUSTER', 'NODES');
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, masterId] = line.split(' ');
        return {
          id,
          port: Number(address.split('@')[0].split(':')[1]),
          master: flags.split(',').includes('master'),
          failed: /fail/.test(flags),
          masterId: masterId === '-' ? undefined : masterId,
        };
      });
  }
}

async function withClient<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

function command(port: number, name: string, ...args: string[]): Promise<string> {
  return withClient(port, async (r) => String(await r.call(name, ...args)));
}

async function ping(port: number): Promise<boolean> {
  try {
    return (await command(port, 'PING')) === 'PONG';
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
