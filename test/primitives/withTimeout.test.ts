import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settledWithin } from '../../src/primitives/withTimeout.js';

describe('settledWithin', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives the value of a promise settled in time, and leaves no timer', async () => {
    await expect(settledWithin(Promise.resolve('answer'), 2000)).resolves.toBe('answer');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives undefined once the time has passed, the promise still running', async () => {
    let finish!: (value: string) => void;
    const running = new Promise<string>((resolve) => {
      finish = resolve;
    });
    const settled = settledWithin(running, 2000);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(settled).resolves.toBeUndefined();
    finish('late');
    await expect(running).resolves.toBe('late');
  });

  it('passes a rejection on, and leaves no timer', async () => {
    await expect(settledWithin(Promise.reject(new Error('refused')), 2000)).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
  });
});
