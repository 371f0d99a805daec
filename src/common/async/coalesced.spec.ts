import { describe, expect, it } from '@jest/globals';
import { coalesced } from './coalesced.js';

describe('coalesced', () => {
  const sum = (a: number, b: number) => a + b;

  it('runs once per call when calls do not overlap', async () => {
    let runs = 0;
    const call = coalesced(async () => ++runs, 0, sum);
    expect(await call()).toBe(1);
    expect(await call()).toBe(2);
    expect(runs).toBe(2);
  });

  it('calls during a run do not overlap it: they make it go round once more, however many', async () => {
    let active = 0;
    let most = 0;
    let runs = 0;
    let release!: () => void;
    const call = coalesced(
      async () => {
        active++;
        most = Math.max(most, active);
        runs++;
        if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
        active--;
        return 1;
      },
      0,
      sum,
    );
    const first = call();
    const others = [call(), call(), call()];
    expect(await Promise.all(others)).toEqual([0, 0, 0]);
    release();
    expect(await first).toBe(2); // its own round and one more for the three calls
    expect(runs).toBe(2);
    expect(most).toBe(1);
  });

  it('a call that comes during the extra round gets one more round', async () => {
    let runs = 0;
    let call: () => Promise<number> = async () => 0;
    call = coalesced(
      async () => {
        runs++;
        if (runs <= 2) void call(); // each of the first two rounds is asked for again
        await Promise.resolve();
        return 1;
      },
      0,
      sum,
    );
    expect(await call()).toBe(3);
  });

  it('a round that throws ends the run; the next call runs again', async () => {
    let runs = 0;
    const call = coalesced(
      async () => {
        runs++;
        if (runs === 1) throw new Error('boom');
        return 1;
      },
      0,
      sum,
    );
    await expect(call()).rejects.toThrow('boom');
    expect(await call()).toBe(1);
  });
});
