/**
 * Undo steps registered as resources are acquired (database, child process, temp
 * files) and run in reverse order: from a suite's `finally`, and from run.ts on
 * SIGINT/SIGTERM, so that an interrupted run leaves nothing behind either.
 */
class Cleanup {
  private readonly steps: Array<{ label: string; fn: () => unknown }> = [];

  add(label: string, fn: () => unknown): void {
    this.steps.push({ label, fn });
  }

  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.fn();
      } catch (error) {
        process.stderr.write(`cleanup "${step.label}" failed: ${(error as Error).message}\n`);
      }
    }
  }
}

export const cleanup = new Cleanup();
