import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SingleFlight } from './single-flight.ts';

describe('SingleFlight', () => {
  it('runs one at a time, and once more for any number of requests made meanwhile', async () => {
    let runs = 0;
    let inside = 0;
    let maxInside = 0;
    const f = new SingleFlight(async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      runs++;
      await new Promise((r) => setTimeout(r, 20));
      inside--;
    });
    const first = f.run();
    await new Promise((r) => setTimeout(r, 5));
    const more = [f.run(), f.run(), f.run()];
    await Promise.all([first, ...more]);
    assert.equal(maxInside, 1);
    assert.equal(runs, 2, 'the three requests during the first run cause exactly one more');
    await f.run();
    assert.equal(runs, 3);
  });
});
