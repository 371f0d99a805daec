import { base, projectRoot } from './jest.base.mjs';

// `npm test` runs both projects: unit specs beside the code, e2e specs against the
// real Postgres and Redis (each e2e file creates and drops its own database).
export default {
  rootDir: projectRoot,
  // e2e files boot the app on a fresh database; each test stays well under this.
  testTimeout: 60_000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
    },
  ],
};
