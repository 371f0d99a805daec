import { parseArgs, type ParseArgsConfig } from 'node:util';
import cliProgress from 'cli-progress';

/**
 * What the command-line tools share: how they fail, how a parse error or a value
 * outside a list is answered (the message, the usage, exit code 2), and their progress bar.
 */

/** Writes `message` to standard error and exits with `code`. */
export function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** node:util's parseArgs; an unknown or malformed option exits 2 with the usage. */
export function parseCliArgs<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    fail(`${(error as Error).message}\n${usage}`, 2);
  }
}

/** `value` (or `fallback` when absent) if it is one of `allowed`; otherwise exits 2 naming `--name`. */
export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string, usage: string, fallback?: T): T {
  const v = value ?? fallback;
  if (v === undefined || !(allowed as readonly string[]).includes(v)) fail(`--${name} must be one of ${allowed.join(', ')}\n${usage}`, 2);
  return v as T;
}

/** The progress bar on standard error, in `format` (cli-progress placeholders). */
export function progressBar(format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format, stream: process.stderr, etaBuffer: 50, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
}
