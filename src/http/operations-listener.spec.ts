import { describe, expect, it } from '@jest/globals';
import { isOperationsRoute } from './operations-listener.js';

describe('the operations surface', () => {
  it('is /metrics, /docs (and its files, /docs-yaml) and /queues (and everything under it), by route template', () => {
    for (const template of ['/metrics', '/docs', '/docs/', '/docs/*', '/docs/openapi.json', '/docs-yaml', '/queues', '/queues/', '/queues/api/queues/:queueName/pause', '/queues/static/*']) {
      expect(isOperationsRoute(template)).toBe(true);
    }
  });

  it('is nothing else: the API, health, unmatched requests', () => {
    for (const template of [undefined, '/', '/health', '/health/live', '/v1/node', '/v1/queues', '/metricsx', '/queuesx', '/documents']) {
      expect(isOperationsRoute(template)).toBe(false);
    }
  });
});
