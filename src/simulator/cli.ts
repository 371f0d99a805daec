import { parseArgs } from 'node:util';
import type { FaultOverride } from './faults.js';
import { startSimulator, type NodeRegistration, type RunningSimulator, type SimulatorOptions } from './simulator.js';

/**
 * `npm run simulator -- [options]`: N simulated peer nodes on loopback (see README,
 * "Peer-node simulator"). With --register, every node is registered at a kouza-hub
 * with the operator key, which makes a one-command demo.
 */
const USAGE = `usage: npm run simulator -- [options]
  --nodes N                    simulated peer nodes (default 10)
  --port P                     listening port on 127.0.0.1, 0 = any (default 4100)
  --latency-ms MS              delay before each answer (default 20)
  --jitter-ms MS               plus uniform(0, MS) (default 0)
  --error-rate R               share of messages answered 500 (default 0)
  --timeout-rate R             share of messages never answered (default 0)
  --bad-signature-rate R       share of answers signed with a wrong key (default 0)
  --down I,J,...               nodes that drop every connection
  --down-fraction F            a seeded fraction of the nodes that drop every connection
  --institutions-per-node K    (default 1)
  --code-base C                first institution code (default 5000)
  --node-id-prefix S           node i is S<i> (default sim-)
  --seed S                     keys, seeded accounts and fault draws (default 42)
  --hit-rate H                 probability a number has accounts at an institution (default 0.01)
  --ambiguous-rate A           numbering notices: share of numbers without accounts answered
                               ambiguous rather than no-match (default 0.1)
  --holder-name KANA           every number's holder is this kana name ... (default: a seeded
  --holder-birth-date DATE     ... and this birth date                     holder per number)
  --accounts FILE              NDJSON {"myNumber","institutionCode","accounts":[...],
                               "nameKana"?,"birthDate"?} per line
  --trust URL                  a kouza-hub GET /v1/node whose messages are answered (repeatable)
  --register URL               register every node at this kouza-hub (POST /v1/peers)
  --admin-key KEY              operator key for --register (default $ADMIN_API_KEY)`;

const REGISTRATION_CONCURRENCY = 8;

class UsageError extends Error {}

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`--${name} must be a number`);
  return parsed;
}

function indexList(name: string, value: string | undefined): number[] | undefined {
  return value?.split(',').map((item) => number(name, item) as number);
}

function optionsFromArgs(args: string[]): { simulator: SimulatorOptions; register?: string; adminKey?: string } {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      nodes: { type: 'string', default: '10' },
      port: { type: 'string', default: '4100' },
      'latency-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      'error-rate': { type: 'string' },
      'timeout-rate': { type: 'string' },
      'bad-signature-rate': { type: 'string' },
      down: { type: 'string' },
      'down-fraction': { type: 'string' },
      'institutions-per-node': { type: 'string' },
      'code-base': { type: 'string' },
      'node-id-prefix': { type: 'string' },
      seed: { type: 'string' },
      'hit-rate': { type: 'string' },
      'ambiguous-rate': { type: 'string' },
      accounts: { type: 'string' },
      'holder-name': { type: 'string' },
      'holder-birth-date': { type: 'string' },
      trust: { type: 'string', multiple: true },
      register: { type: 'string' },
      'admin-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const register = values.register?.replace(/\/+$/, '');
  const adminKey = values['admin-key'] ?? process.env.ADMIN_API_KEY;
  if (register && !adminKey) throw new UsageError('--register needs --admin-key (or ADMIN_API_KEY)');
  const overrides: FaultOverride[] = [];
  const down = indexList('down', values.down);
  if (down) overrides.push({ nodes: down, down: true });
  const downFraction = number('down-fraction', values['down-fraction']);
  if (downFraction !== undefined) overrides.push({ nodes: { fraction: downFraction }, down: true });
  const trust = values.trust ?? (register ? [`${register}/v1/node`] : []);
  const holderName = values['holder-name'];
  const holderBirthDate = values['holder-birth-date'];
  if ((holderName === undefined) !== (holderBirthDate === undefined)) throw new UsageError('--holder-name and --holder-birth-date go together');
  return {
    register,
    adminKey,
    simulator: {
      nodes: number('nodes', values.nodes) as number,
      port: number('port', values.port),
      institutionsPerNode: number('institutions-per-node', values['institutions-per-node']),
      codeBase: number('code-base', values['code-base']),
      nodeIdPrefix: values['node-id-prefix'],
      seed: values.seed,
      hitRate: number('hit-rate', values['hit-rate']),
      ambiguousRate: number('ambiguous-rate', values['ambiguous-rate']),
      accountsFile: values.accounts,
      ...(holderName !== undefined ? { holder: { nameKana: holderName, birthDate: holderBirthDate! } } : {}),
      trust,
      faults: {
        latencyMs: number('latency-ms', values['latency-ms']),
        jitterMs: number('jitter-ms', values['jitter-ms']),
        errorRate: number('error-rate', values['error-rate']),
        timeoutRate: number('timeout-rate', values['timeout-rate']),
        badSignatureRate: number('bad-signature-rate', values['bad-signature-rate']),
      },
      overrides,
    },
  };
}

/** POSTs every node to kouza-hub's /v1/peers, a few at a time; returns the failures. */
async function registerAll(hub: string, adminKey: string, manifest: readonly NodeRegistration[]): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < manifest.length) {
      const node = manifest[next++];
      try {
        const response = await fetch(`${hub}/v1/peers`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(node),
          signal: AbortSignal.timeout(10_000),
        });
        if (!response.ok) {
          const problem = (await response.json().catch(() => ({}))) as { code?: string; detail?: string };
          failures.push(`${node.nodeId}: HTTP ${response.status} ${problem.code ?? ''} ${problem.detail ?? ''}`.trim());
        }
      } catch (error) {
        failures.push(`${node.nodeId}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: REGISTRATION_CONCURRENCY }, worker));
  return failures;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof optionsFromArgs>;
  try {
    parsed = optionsFromArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const simulator: RunningSimulator = await startSimulator(parsed.simulator);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(
    `peer-node simulator: ${simulator.manifest.length} nodes at ${simulator.url}/nodes/<i> ` +
      `(manifest ${simulator.url}/manifest, stats ${simulator.url}/stats)`,
  );
  if (parsed.register && parsed.adminKey) {
    const failures = await registerAll(parsed.register, parsed.adminKey, simulator.manifest);
    if (failures.length > 0) {
      console.error(`registration at ${parsed.register} failed for ${failures.length} nodes, e.g. ${failures[0]}`);
      await simulator.close();
      process.exit(1);
    }
    console.log(`registered ${simulator.manifest.length} nodes at ${parsed.register}`);
  }
}

main().catch((error: unknown) => {
  console.error(`simulator: ${(error as Error).message}`);
  process.exit(1);
});
