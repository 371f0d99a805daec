import { describe, expect, it, jest } from '@jest/globals';
import 'reflect-metadata';
import { KeyRotationProcessor } from '../keys/key-rotation.processor.js';
import { RegisterImportProcessor } from '../register/register-import.processor.js';
import { WebhookProcessor } from '../webhooks/webhook.processor.js';
import { MaintenanceProcessor } from '../worker/maintenance.processor.js';
import { LoggedWorkerHost } from './logged-worker-host.js';

/** @nestjs/bullmq's key for @OnWorkerEvent (bull.constants: ON_WORKER_EVENT_METADATA). */
const ON_WORKER_EVENT = 'bullmq:worker_events_metadata';

describe('LoggedWorkerHost', () => {
  it('listens to its worker\'s "error" event, so that BullMQ never prints a connection error raw', () => {
    expect(Reflect.getMetadata(ON_WORKER_EVENT, LoggedWorkerHost.prototype.onWorkerError)).toEqual({ eventName: 'error' });
  });

  it.each([
    ['maintenance', MaintenanceProcessor],
    ['register imports', RegisterImportProcessor],
    ['webhooks', WebhookProcessor],
    ['key rotations', KeyRotationProcessor],
  ])('the %s processor is one', (_name, processor) => {
    expect(processor.prototype).toBeInstanceOf(LoggedWorkerHost);
  });

  it('logs the error as a warning, with the queue', () => {
    const warn = jest.fn();
    class Host extends LoggedWorkerHost {
      protected readonly logger = { warn } as never;
      async process(): Promise<void> {}
    }
    const host = new Host();
    Object.defineProperty(host, 'worker', { get: () => ({ name: 'maintenance' }) });
    const error = new Error('Too many Cluster redirections');
    host.onWorkerError(error);
    expect(warn).toHaveBeenCalledWith({ err: error, queue: 'maintenance' }, 'queue worker error');
  });
});
