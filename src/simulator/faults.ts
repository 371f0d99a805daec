import { seededSelection, type Seed } from './seeded.js';

/** How one simulated node misbehaves. Rates are probabilities per message. */
export interface FaultSettings {
  /** Every message waits latencyMs + uniform(0, jitterMs) before it is handled. */
  latencyMs: number;
  jitterMs: number;
  /** Answer 500. */
  errorRate: number;
  /** Hold the request and never answer, until the client gives up. */
  timeoutRate: number;
  /** A well-formed answer signed with a key that is not the node's. */
  badSignatureRate: number;
  /** Destroy the connection at once, without an answer. */
  down: boolean;
  /** Answer 429 PEER_QUOTA_EXCEEDED, as a node whose quota for the sender is spent. */
  quotaRate: number;
  /** The Retry-After (seconds) of those 429s. */
  retryAfterSeconds: number;
}

export const DEFAULT_FAULTS: Readonly<FaultSettings> = Object.freeze({
  latencyMs: 20,
  jitterMs: 0,
  errorRate: 0,
  timeoutRate: 0,
  badSignatureRate: 0,
  down: false,
  quotaRate: 0,
  retryAfterSeconds: 60,
});

/** Which nodes a change applies to: indexes, a seeded fraction of all nodes, or all. */
export type NodeSelector = readonly number[] | { fraction: number } | 'all';

export type FaultOverride = Partial<FaultSettings> & { nodes: NodeSelector };

/** The body of `POST /control`. */
export type ControlChange = Partial<FaultSettings> & { nodes?: NodeSelector };

const DURATIONS = ['latencyMs', 'jitterMs'] as const;
const RATES = ['errorRate', 'timeoutRate', 'badSignatureRate', 'quotaRate'] as const;
const SECONDS = ['retryAfterSeconds'] as const;
const CHANGE_FIELDS = new Set<string>(['nodes', 'down', ...DURATIONS, ...RATES, ...SECONDS]);
const MAX_DELAY_MS = 600_000;

export class FaultSettingsError extends Error {
  override name = 'FaultSettingsError';
}

/** Checks a change that may come from outside (`POST /control`, the command line). */
export function checkFaultChange(value: unknown, nodeCount: number): asserts value is ControlChange {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FaultSettingsError('the change must be a JSON object');
  }
  const change = value as Record<string, unknown>;
  const unknown = Object.keys(change).filter((k) => !CHANGE_FIELDS.has(k));
  if (unknown.length > 0) throw new FaultSettingsError(`unknown fields: ${unknown.join(', ')}`);
  for (const field of DURATIONS) {
    const v = change[field];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_DELAY_MS)) {
      throw new FaultSettingsError(`${field} must be an integer from 0 to ${MAX_DELAY_MS}`);
    }
  }
  for (const field of RATES) {
    const v = change[field];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) {
      throw new FaultSettingsError(`${field} must be a number from 0 to 1`);
    }
  }
  for (const field of SECONDS) {
    const v = change[field];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_DELAY_MS / 1000)) {
      throw new FaultSettingsError(`${field} must be an integer from 0 to ${MAX_DELAY_MS / 1000}`);
    }
  }
  if (change.down !== undefined && typeof change.down !== 'boolean') {
    throw new FaultSettingsError('down must be a boolean');
  }
  checkSelector(change.nodes, nodeCount);
}

function checkSelector(nodes: unknown, nodeCount: number): void {
  if (nodes === undefined || nodes === 'all') return;
  if (Array.isArray(nodes)) {
    if (!nodes.every((i) => Number.isInteger(i) && i >= 0 && i < nodeCount)) {
      throw new FaultSettingsError(`nodes must be indexes from 0 to ${nodeCount - 1}`);
    }
    return;
  }
  const fraction = (nodes as { fraction?: unknown } | null)?.fraction;
  if (typeof fraction === 'number' && fraction >= 0 && fraction <= 1 && Object.keys(nodes as object).length === 1) {
    return;
  }
  throw new FaultSettingsError('nodes must be "all", a list of indexes or {fraction: 0..1}');
}

/** The node indexes a selector designates; a fraction is a seeded, reproducible choice. */
export function selectNodes(nodes: NodeSelector | undefined, nodeCount: number, seed: Seed): number[] {
  if (nodes === undefined || nodes === 'all') return Array.from({ length: nodeCount }, (_, i) => i);
  if (Array.isArray(nodes)) return [...new Set(nodes as number[])];
  return seededSelection(seed, 'fraction', nodeCount, (nodes as { fraction: number }).fraction);
}

/** Only the fault fields of a change (drops `nodes` and fields left undefined). */
export function faultFields(change: ControlChange): Partial<FaultSettings> {
  const fields: Partial<FaultSettings> = {};
  for (const key of [...DURATIONS, ...RATES, ...SECONDS, 'down'] as const) {
    if (change[key] !== undefined) (fields as Record<string, unknown>)[key] = change[key];
  }
  return fields;
}
