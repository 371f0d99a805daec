// Shared Jest settings: the project is native ESM (NestJS 12 packages are ESM-only),
// so Jest runs in its ESM mode (node --experimental-vm-modules) with ts-jest.
import { fileURLToPath } from 'node:url';

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export const base = {
  rootDir: projectRoot,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }],
  },
};
