import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { listenOperations } from '../../src/http/operations-listener.js';
import { QueueName } from '../../src/queue/queues.js';
import { ADMIN_KEY, startTestApp, TestApp } from './support/test-app.js';

/**
 * The operations surface (queue dashboard, metrics, API documents): the dashboard is
 * reached with the operator key only, whatever spelling of its path the router takes
 * for it; it is read-only unless QUEUE_DASHBOARD_ACTIONS; and with OPS_PORT the
 * surface is served on its own listener only.
 */

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request with the request target exactly as written: supertest (and fetch) would
 * normalise dot segments or re-encode the path before sending it.
 */
function raw(server: http.Server, method: string, path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listening(server: http.Server): Promise<http.Server> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const basic = (password: string) => ({ Authorization: `Basic ${Buffer.from(`operator:${password}`).toString('base64')}` });

/** Spellings of the dashboard's API paths: a router may take any of these for the route. */
function spellings(path: string): string[] {
  const [, first, ...rest] = path.split('/');
  const tail = rest.join('/');
  const encodedFirst = first.replace(/^q/, '%71').replace(/u/, '%75');
  return [
    path,
    `/%71${path.slice(2)}`,
    `/${encodedFirst}/${tail}`,
    `/${first.toUpperCase()}/${tail}`,
    `/${first[0].toUpperCase()}${first.slice(1)}/${tail}`,
    `//${first}/${tail}`,
    `/${first}//${tail}`,
    `/${first}/${tail.replace(/\//g, '//')}`,
    `/${first}/./${tail}`,
    `/x/../${first}/${tail}`,
    `/${first}/${tail}/`,
    `/${first}/${tail}?x=1`,
    `/${first}/${tail}?`,
    `/${first}/${tail};x=1`,
    `/${first};x=1/${tail}`,
    `/${first}%2F${tail.replace(/\//g, '%2F')}`,
    `/%2571${path.slice(2)}`,
    `/${first}/${tail.replace(/a/, '%61')}`,
    `/${first}/${tail.replace(/a/, '%41')}`,
    `/${first}%00/${tail}`,
    `/${first}%20/${tail}`,
    `/${first}\\${tail}`,
    `http://127.0.0.1${path}`,
    `HTTP://localhost${`/%71${path.slice(2)}`}`,
  ];
}

describe('queue dashboard: the operator key, whatever the path looks like', () => {
  let t: TestApp;
  let server: http.Server;
  let webhooks: Queue;

  beforeAll(async () => {
    t = await startTestApp({ env: { QUEUE_DASHBOARD_ACTIONS: 'true' } });
    server = await listening(t.app.getHttpServer());
    webhooks = t.app.get<Queue>(getQueueToken(QueueName.Webhooks), { strict: false });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('answers no spelling of a dashboard route without the key (GET)', async () => {
    for (const path of [...spellings('/queues/api/queues'), ...spellings('/queues/api/redis/stats'), ...spellings('/queues/static/')]) {
      for (const headers of [{}, basic('wrong-key-0123456789abcdef')]) {
        const r = await raw(server, 'GET', path, headers);

        expect({ path, status: r.status }).toEqual({ path, status: r.status === 401 ? 401 : 404 });
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(r.body).not.toMatch(/"queues"|redis_version|<html/i);
      }
    }
  });

  it('lets no spelling of a dashboard action through without the key (PUT)', async () => {
    for (const path of [...spellings('/queues/api/queues/webhooks/pause'), ...spellings('/queues/api/queues/pause')]) {
      const r = await raw(server, 'PUT', path);
      expect({ path, status: r.status }).toEqual({ path, status: r.status === 401 ? 401 : 404 });
      expect(await webhooks.isPaused()).toBe(false);
    }
  });

  it('takes the operator key on the route itself: the encoded spelling with the key works', async () => {
    const plain = await raw(server, 'GET', '/queues/api/queues', basic(ADMIN_KEY));
    expect(plain.status).toBe(200);
    const encoded = await raw(server, 'GET', '/%71ueues/api/queues', basic(ADMIN_KEY));
    expect(encoded.status).toBe(200);
    // With QUEUE_DASHBOARD_ACTIONS the operator may pause and resume.
    expect((await raw(server, 'PUT', '/queues/api/queues/webhooks/pause', basic(ADMIN_KEY))).status).toBe(200);
    expect(await webhooks.isPaused()).toBe(true);
    expect((await raw(server, 'PUT', '/queues/api/queues/webhooks/resume', basic(ADMIN_KEY))).status).toBe(200);
    expect(await webhooks.isPaused()).toBe(false);
  });
});

describe('queue dashboard: read-only by default', () => {
  let t: TestApp;
  let server: http.Server;
  let webhooks: Queue;

  beforeAll(async () => {
    t = await startTestApp();
    server = await listening(t.app.getHttpServer());
    webhooks = t.app.get<Queue>(getQueueToken(QueueName.Webhooks), { strict: false });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('shows the queues to the operator but refuses pause, retry, clean and the like', async () => {
    const list = await raw(server, 'GET', '/queues/api/queues', basic(ADMIN_KEY));
    expect(list.status).toBe(200);
    const queues = JSON.parse(list.body).queues as { name: string; readOnlyMode: boolean }[];
    expect(queues.length).toBe(Object.values(QueueName).length);
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);

    for (const path of [
      '/queues/api/queues/webhooks/pause',
      '/queues/api/queues/webhooks/retry/failed',
      '/queues/api/queues/webhooks/clean/completed',
      '/queues/api/queues/webhooks/promote',
      '/queues/api/queues/webhooks/empty',
      '/queues/api/queues/webhooks/obliterate',
    ]) {
      const r = await raw(server, 'PUT', path, basic(ADMIN_KEY));
      expect({ path, status: r.status }).toEqual({ path, status: 405 });
    }
    expect((await raw(server, 'PUT', '/queues/api/queues/pause', basic(ADMIN_KEY))).status).toBe(200);
    expect(await webhooks.isPaused()).toBe(false);
  });
});

describe('OPS_PORT: the operations surface on its own listener', () => {
  let t: TestApp;
  let publicServer: http.Server;
  let ops: http.Server;

  beforeAll(async () => {
    t = await startTestApp({ env: { OPS_PORT: '39999', OPS_HOST: '127.0.0.1' } });
    publicServer = await listening(t.app.getHttpServer());
    // As main.ts does, on a free port rather than the configured one (test files run in parallel).
    ops = await listenOperations(t.app, { port: 0, host: '127.0.0.1' });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  const OPERATIONS = ['/metrics', '/docs', '/docs/', '/docs/openapi.json', '/docs-yaml', '/queues', '/queues/api/queues'];

  it('serves /metrics, /docs and /queues there, and only there', async () => {
    for (const path of OPERATIONS) {
      for (const spelling of [path, path.replace(/^\/(.)/, (_m, c: string) => `/%${c.charCodeAt(0).toString(16)}`)]) {
        const r = await raw(publicServer, 'GET', spelling, basic(ADMIN_KEY));
        expect({ spelling, status: r.status }).toEqual({ spelling, status: 404 });
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    expect((await raw(ops, 'GET', '/metrics')).body).toMatch(/kouza_http_requests_total/);
    expect((await raw(ops, 'GET', '/docs/openapi.json')).status).toBe(200);
    expect((await raw(ops, 'GET', '/docs/', {})).status).toBe(200);
    expect((await raw(ops, 'GET', '/queues/api/queues', basic(ADMIN_KEY))).status).toBe(200);
    expect((await raw(ops, 'GET', '/queues/api/queues')).status).toBe(401);
  });

  it('serves the API on the public port only; /health on both', async () => {
    expect((await raw(publicServer, 'GET', '/v1/node')).status).toBe(200);
    expect((await raw(ops, 'GET', '/v1/node')).status).toBe(404);
    expect((await raw(publicServer, 'GET', '/health/live')).status).toBe(200);
    expect((await raw(ops, 'GET', '/health/live')).status).toBe(200);
  });
});
