import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { repositoryRoot } from '../config/config-reference.js';

/**
 * docker/compose.yaml's `shards` profile, checked as far as it can be without Docker:
 * every shard service is in the profile and only there, its dependencies and volumes
 * resolve, and the three nodes are separate (node id, database, Redis database, queue
 * prefix, audit volume); the federation file and the TLS names agree with them.
 */
const root = repositoryRoot();
const read = (path: string) => readFileSync(join(root, path), 'utf8');

interface Service {
  profiles?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  volumes?: string[];
  command?: string[];
  networks?: Record<string, { aliases?: string[] }>;
}
const compose = parse(read('docker/compose.yaml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const SHARDS = ['a', 'b', 'c'];

describe('the shards profile of docker/compose.yaml', () => {
  it('puts every shard service, and nothing else, in the profile; their dependencies and volumes resolve', () => {
    const inProfile = Object.keys(services).filter((name) => services[name].profiles?.includes('shards'));
    expect(inProfile.sort()).toEqual(
      ['shard-tls', 'shard-federation', ...SHARDS.flatMap((s) => [`shard-${s}-migrate`, `shard-${s}-api`, `shard-${s}-worker`])].sort(),
    );
    for (const name of inProfile) {
      for (const dependency of Object.keys(services[name].depends_on ?? {})) {
        expect(services[dependency]).toBeDefined();
        // A shard service waits only for the shared Postgres and Redis, or for other shard services.
        if (!['postgres', 'redis'].includes(dependency)) expect(services[dependency].profiles).toEqual(['shards']);
      }
      for (const volume of services[name].volumes ?? []) {
        const source = volume.split(':')[0];
        if (!source.startsWith('.')) expect(Object.keys(compose.volumes)).toContain(source);
      }
    }
    // The default stack is untouched: no profile.
    for (const name of ['postgres', 'redis', 'migrate', 'api', 'worker']) expect(services[name].profiles).toBeUndefined();
  });

  it('keeps the three nodes apart: node id, database, Redis database, queue prefix, audit volume', () => {
    const envs = SHARDS.map((s) => services[`shard-${s}-api`].environment!);
    for (const key of ['NODE_ID', 'DATABASE_URL', 'MIGRATION_DATABASE_URL', 'REDIS_URL', 'QUEUE_PREFIX', 'MASTER_KEYS', 'NODE_SIGNING_KEY']) {
      expect(new Set(envs.map((e) => e[key])).size).toBe(3);
    }
    SHARDS.forEach((s, i) => {
      expect(envs[i].NODE_ENV).toBe('production');
      // The API, the worker and the migration of a node share one configuration; API and
      // worker (which send peer messages) trust shard-tls's CA, from the volume they mount.
      expect(services[`shard-${s}-worker`].environment).toEqual(envs[i]);
      const { NODE_EXTRA_CA_CERTS: ca, ...rest } = envs[i];
      expect(services[`shard-${s}-migrate`].environment).toEqual(rest);
      expect(ca).toBe('/etc/kouza-shards/ca/root.crt');
      for (const role of ['api', 'worker']) expect(services[`shard-${s}-${role}`].volumes).toContain('shard-tls-ca:/etc/kouza-shards/ca:ro');
      expect(services[`shard-${s}-worker`].volumes).toContain(`shard-${s}-audit:/var/lib/kouza-hub/audit`);
    });
  });

  it('federates the nodes under the names shard-tls serves, over https', () => {
    const federation = JSON.parse(read('docker/shards/federation.json')) as { nodes: { apiUrl: string; endpointUrl: string }[] };
    const aliases = services['shard-tls'].networks!.default.aliases!;
    const caddyfile = read('docker/shards/Caddyfile');
    expect(federation.nodes).toHaveLength(3);
    SHARDS.forEach((s, i) => {
      expect(federation.nodes[i].apiUrl).toBe(`http://shard-${s}-api:3000`);
      expect(federation.nodes[i].endpointUrl).toBe(`https://shard-${s}.kouza.internal`);
      expect(aliases).toContain(`shard-${s}.kouza.internal`);
      expect(caddyfile).toMatch(new RegExp(`shard-${s}\\.kouza\\.internal \\{\\s+import peer-routes shard-${s}-api:3000`));
    });
    expect(services['shard-federation'].command).toEqual(expect.arrayContaining(['dist/src/cli/peers-federate.js', '/etc/kouza-shards/federation.json']));
  });
});
