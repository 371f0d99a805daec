import { AppConfig, ConfigError, loadConfig } from './app-config.js';
import { KeyMaterial, KeyMaterialError, loadKeyMaterial } from '../crypto/key-material.js';

/**
 * Configuration and keys for a process, or a clear message and exit code 1: a
 * misconfigured service stops before it opens a port or a connection.
 */
export function loadStartupSettings(processName: string): { config: AppConfig; keys: KeyMaterial } {
  try {
    const config = loadConfig(process.env);
    const keys = loadKeyMaterial(config, (message) =>
      process.stderr.write(`${JSON.stringify({ level: 'warn', service: 'kouza-hub', process: processName, msg: message })}\n`),
    );
    return { config, keys };
  } catch (error) {
    if (error instanceof ConfigError || error instanceof KeyMaterialError) {
      process.stderr.write(`kouza-hub ${processName}: refusing to start.\n${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
