/**
 * `run` one at a time: a call while it runs does not start another, it asks the running
 * one to go round once more when it ends (however many calls came meanwhile), and returns
 * `idle` at once. For work that reads a shared state and acts on all of it (admission
 * claims whatever is queued): the run after the last call sees everything that came
 * before that call. What each round returns is added up by `add`.
 */
export function coalesced<T>(run: () => Promise<T>, idle: T, add: (total: T, round: T) => T): () => Promise<T> {
  let running = false;
  let again = false;
  return async () => {
    if (running) {
      again = true;
      return idle;
    }
    running = true;
    let total = idle;
    try {
      for (;;) {
        again = false;
        total = add(total, await run());
        // Checked and cleared with no await in between: no call falls in a gap.
        if (!again) return total;
      }
    } finally {
      running = false;
    }
  };
}
