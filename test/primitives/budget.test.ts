import { describe, expect, it } from 'vitest';
import { Budget } from '../../src/primitives/budget.js';

/** The order takers got their share in, once every promise so far has settled. */
async function order(budget: Budget, shares: number[]) {
  const got: number[] = [];
  const givers = shares.map((share, i) =>
    budget.take(share).then((giveBack) => {
      got.push(i);
      return giveBack;
    }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return { got, givers };
}

describe('a budget taken in shares', () => {
  it('gives shares at once while they fit, and the next once enough is given back', async () => {
    const budget = new Budget(64);
    const { got, givers } = await order(budget, [32, 30, 10]);
    expect(got).toEqual([0, 1]);
    (await givers[1]!)();
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([0, 1, 2]);
  });

  it('lets no small share pass a large one waiting', async () => {
    const budget = new Budget(64);
    const { got, givers } = await order(budget, [40, 32, 1]);
    expect(got).toEqual([0]);
    (await givers[0]!)();
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([0, 1, 2]);
  });

  it('gives a share larger than the whole once nothing else is taken, and only then', async () => {
    const budget = new Budget(64);
    const { got, givers } = await order(budget, [1, 100, 1]);
    expect(got).toEqual([0]);
    const giveBack = await givers[0]!;
    giveBack();
    giveBack(); // again: nothing more is given back
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([0, 1]);
    (await givers[1]!)();
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([0, 1, 2]);
  });
});
