import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { repositoryRoot } from '../config/config-reference.js';
import { MetricsService } from './metrics.service.js';

/**
 * The Grafana dashboard and the Prometheus rules in docker/ parse, and every kouza_*
 * metric they query is one MetricsService registers (a renamed metric breaks this, not
 * a dashboard at 3 a.m.). Every alert has its entry in the runbook (docs/operations.md).
 */
const root = repositoryRoot();
const read = (path: string) => readFileSync(join(root, path), 'utf8');

const registered = new Set(new MetricsService().registry.getMetricsAsArray().map((m) => m.name));

/** kouza_* series in a PromQL expression, reduced to their metric names. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bkouza_[a-z0-9_]+/g)].map(([name]) => name.replace(/_(bucket|count|sum)$/, ''));
}

interface Rule {
  alert: string;
  expr: string;
  labels?: { severity?: string };
  annotations?: { summary?: string };
}

describe('monitoring files', () => {
  const dashboard = JSON.parse(read('docker/grafana/kouza-hub.json')) as {
    uid: string;
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const alerts = parse(read('docker/prometheus/alerts.yml')) as { groups: { name: string; rules: Rule[] }[] };
  const rules = alerts.groups.flatMap((g) => g.rules);
  const runbook = read('docs/operations.md');

  it('the dashboard queries only registered metrics, and shows the fan-out ones', () => {
    expect(dashboard.uid).toBe('kouza-hub');
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr)));
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(registered).toContain(name);
    for (const name of [
      'kouza_inquiry_duration_seconds',
      'kouza_peer_answer_seconds',
      'kouza_peer_messages_total',
      'kouza_peer_batch_queries',
      'kouza_fanout_nodes',
      'kouza_queue_jobs',
      'kouza_reconciler_actions_total',
      'kouza_retention_runs_total',
      'kouza_retention_rows_purged_total',
      'kouza_rate_limited_total',
    ]) {
      expect(used).toContain(name);
    }
  });

  it('the alert rules parse, query registered metrics, and each is explained in the runbook', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const rule of rules) {
      expect(rule.alert).toMatch(/^Kouza[A-Za-z]+$/);
      expect(['warning', 'critical']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
      for (const name of metricsIn(rule.expr)) expect(registered).toContain(name);
      expect(runbook).toContain(`\`${rule.alert}\``);
    }
  });

  it('the Prometheus configuration loads the rules and scrapes the API and the worker', () => {
    const prometheus = parse(read('docker/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string }[];
    };
    expect(prometheus.rule_files).toContain('/etc/prometheus/alerts.yml');
    expect(prometheus.scrape_configs.map((c) => c.job_name).sort()).toEqual(['kouza-api', 'kouza-worker']);
    const compose = parse(read('docker/compose.yaml')) as { services: Record<string, { profiles?: string[] }> };
    expect(compose.services.prometheus.profiles).toEqual(['monitoring']);
    expect(compose.services.grafana.profiles).toEqual(['monitoring']);
  });
});
