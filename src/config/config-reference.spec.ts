import { describe, expect, it } from '@jest/globals';
import { AppConfig } from './app-config.js';
import {
  CONFIG_REFERENCE_END,
  CONFIG_REFERENCE_START,
  configReferenceMarkdown,
  readRepositoryFiles,
  settingsReference,
  withConfigReference,
} from './config-reference.js';

describe('configuration reference', () => {
  const { source, readme } = readRepositoryFiles();

  it('lists every setting of AppConfig with its default, rule and doc comment', () => {
    const settings = settingsReference(source);
    const names = settings.map((s) => s.name);
    for (const key of Object.keys(new AppConfig())) expect(names).toContain(key);
    expect(names).toContain('ADMIN_API_KEY');
    const port = settings.find((s) => s.name === 'PORT')!;
    expect(port).toMatchObject({ default: '`3000`', rule: 'integer 0–65535' });
    const admin = settings.find((s) => s.name === 'ADMIN_API_KEY')!;
    expect(admin.default).toBe('unset');
    expect(admin.rule).toContain('**secret**');
    expect(admin.description).toMatch(/operator/);
    expect(settings.find((s) => s.name === 'RATE_LIMIT_PER_MINUTE')!.description).toMatch(/token bucket/);
    expect(settings.find((s) => s.name === 'NODE_ENV')!.rule).toBe('one of `development`, `test`, `production`');
  });

  it('is what README.md shows (run `npm run config:reference -- --write` after changing AppConfig)', () => {
    expect(readme).toContain(CONFIG_REFERENCE_START);
    expect(readme).toContain(CONFIG_REFERENCE_END);
    expect(withConfigReference(readme, configReferenceMarkdown(source))).toBe(readme);
  });
});
