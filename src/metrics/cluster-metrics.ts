import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const SCRAPE_REQUEST = 'kouza:metrics-scrape';
const SCRAPE_ANSWER = 'kouza:metrics-scraped';
const SCRAPE_TIMEOUT_MS = 6000;

interface ScrapeMessage {
  type: typeof SCRAPE_REQUEST | typeof SCRAPE_ANSWER;
  id: number;
  text?: string;
  error?: string;
}

/**
 * With API_PROCESSES > 1 a scrape reaches one process of the cluster, chosen by the
 * kernel. That process asks the supervisor, which gathers every process's registry
 * (prom-client's AggregatorRegistry, over the cluster's IPC channel) and answers with
 * the sum, so that one scrape sees every request the port answered.
 */
export function aggregateClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: ScrapeMessage) => {
    if (message?.type !== SCRAPE_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ type: SCRAPE_ANSWER, id: message.id, text }),
      (error: Error) => worker.isConnected() && worker.send({ type: SCRAPE_ANSWER, id: message.id, error: error.message }),
    );
  });
}

let joined = false;
let nextId = 0;
const waiting = new Map<number, (message: ScrapeMessage) => void>();

/** In a cluster process: answer the supervisor's collection with this registry. */
function joinAggregation(registry: Registry): void {
  if (joined) return;
  joined = true;
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's listener for the supervisor's requests.
  new AggregatorRegistry();
  process.on('message', (message: ScrapeMessage) => {
    if (message?.type !== SCRAPE_ANSWER) return;
    waiting.get(message.id)?.(message);
    waiting.delete(message.id);
  });
}

/** Whether this process is one of several API processes behind a supervisor. */
export function inApiCluster(): boolean {
  return cluster.isWorker && typeof process.send === 'function';
}

/**
 * The whole cluster's metrics, as the supervisor aggregates them; this process's own
 * if the supervisor does not answer in time (a partial scrape beats none).
 */
export function scrapeCluster(registry: Registry): Promise<string> {
  joinAggregation(registry);
  const id = nextId++;
  return new Promise<string>((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      resolve(registry.metrics());
    }, SCRAPE_TIMEOUT_MS);
    waiting.set(id, (message) => {
      clearTimeout(timer);
      resolve(message.text ?? registry.metrics());
    });
    process.send!({ type: SCRAPE_REQUEST, id } satisfies ScrapeMessage);
  });
}

/** Called early in each API cluster process so that the supervisor's first collection finds it. */
export function prepareClusterMetrics(registry: Registry): void {
  if (inApiCluster()) joinAggregation(registry);
}
