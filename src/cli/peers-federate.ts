import { readFileSync } from 'node:fs';
import { federate, FederationError, type FederationNode } from '../peers/federation.js';
import { fail, parseCliArgs } from './cli-args.js';

/**
 * `npm run peers:federate -- --file <nodes.json> [--wait <seconds>]`: registers every
 * node listed in the file as a peer at every other one (GET /v1/node, GET
 * /v1/institutions, POST /v1/peers), after creating the institutions each node is
 * listed with if it does not host them yet. Safe to run again: it registers again.
 *
 * The file: {"nodes": [{"apiUrl": "http://shard-a-api:3000", "endpointUrl":
 * "https://shard-a.kouza.internal", "adminKeyEnv": "SHARD_A_ADMIN_API_KEY",
 * "institutions": [{"code": "0101", "name": "..."}]}, ...]}. The admin keys are never
 * in the file: each node's is read from the environment variable `adminKeyEnv`
 * (ADMIN_API_KEY when absent). `--wait` retries an unreachable node for that long
 * (a node still starting). Exit code: 0 federated, 1 refused or unreachable, 2 bad arguments.
 */
const USAGE = 'usage: peers:federate --file <nodes.json> [--wait <seconds>]';

interface FileNode {
  apiUrl?: unknown;
  endpointUrl?: unknown;
  adminKeyEnv?: unknown;
  institutions?: unknown;
}

const { values } = parseCliArgs({ options: { file: { type: 'string' }, wait: { type: 'string' } } }, USAGE);
if (!values.file) fail(USAGE, 2);
const waitS = values.wait === undefined ? 0 : Number(values.wait);
if (!Number.isFinite(waitS) || waitS < 0) fail(`--wait must be a number of seconds\n${USAGE}`, 2);

function readNodes(path: string): FederationNode[] {
  let parsed: { nodes?: unknown };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read ${path}: ${(error as Error).message}`, 2);
  }
  if (!Array.isArray(parsed.nodes)) fail(`${path}: "nodes" must be an array`, 2);
  return (parsed.nodes as FileNode[]).map((n, i) => {
    const where = `${path}: nodes[${i}]`;
    if (typeof n.apiUrl !== 'string' || typeof n.endpointUrl !== 'string') fail(`${where}: apiUrl and endpointUrl are required`, 2);
    const keyEnv = typeof n.adminKeyEnv === 'string' ? n.adminKeyEnv : 'ADMIN_API_KEY';
    const adminKey = process.env[keyEnv];
    if (!adminKey) fail(`${where}: the admin key is read from ${keyEnv}, which is not set`, 2);
    const institutions = n.institutions ?? [];
    if (!Array.isArray(institutions) || institutions.some((x) => typeof x?.code !== 'string' || typeof x?.name !== 'string')) {
      fail(`${where}: institutions must be a list of {code, name}`, 2);
    }
    return { apiUrl: n.apiUrl, endpointUrl: n.endpointUrl, adminKey, institutions };
  });
}

const nodes = readNodes(values.file);
const deadline = Date.now() + waitS * 1000;
for (;;) {
  try {
    const report = await federate(nodes);
    for (const node of report.nodes) {
      const created = node.created.length ? ` (created ${node.created.join(', ')})` : '';
      process.stdout.write(`${node.nodeId} at ${node.endpointUrl} hosts ${node.institutions.join(', ') || 'nothing'}${created}\n`);
    }
    for (const r of report.registrations) {
      process.stdout.write(`registered ${r.peer} at ${r.at} (${r.status === 201 ? 'new' : 'updated'}): ${r.institutions.join(', ')}\n`);
    }
    break;
  } catch (error) {
    if (!(error instanceof FederationError)) throw error;
    // A node still starting answers nothing (or 503): retried until --wait runs out.
    if (Date.now() < deadline && /fetch failed|ECONNREFUSED|answered 50[23]|aborted|timeout/i.test(error.message)) {
      process.stderr.write(`waiting: ${error.message}\n`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      continue;
    }
    fail(`federation failed: ${error.message}`, 1);
  }
}
