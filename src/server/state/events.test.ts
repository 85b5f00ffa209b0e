/**
 * The change log behind watch streams, against a model: whatever the capacity, the batch sizes
 * and the moments subscribers join, no event is lost, reordered or published twice; an echo of
 * a published batch is dropped; a resume replays exactly the whole revisions kept and is refused
 * (Compacted) before them. Also: publishing stays O(1) per event once the log is full.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isRomanaError } from '../../errors.ts';
import { EventLog } from './events.ts';
import type { WatchEvent, WatchKind } from './service.ts';

const KINDS: readonly WatchKind[] = ['addresses', 'blocks', 'hosts'];

/** One step: a new batch at the next revision, an echo of a kept batch, or a new subscriber. */
type Step =
  | { t: 'batch'; ids: Array<{ kind: number; id: number }> }
  | { t: 'echo'; back: number }
  | { t: 'subscribe'; back: number; kinds: boolean[] };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('batch' as const),
      ids: fc.array(fc.record({ kind: fc.nat(2), id: fc.nat(20) }), {
        minLength: 1,
        maxLength: 6,
      }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('echo' as const), back: fc.nat(4) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('subscribe' as const),
      back: fc.nat(8),
      kinds: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    }),
  },
);

const show = (e: WatchEvent) => `${e.revision} ${e.kind} ${e.id} ${String(e.value)}`;

/** The model: every accepted event in order; the log keeps the longest whole-revision suffix. */
class Model {
  accepted: WatchEvent[] = [];
  floor: number;
  constructor(
    start: number,
    readonly capacity: number,
  ) {
    this.floor = start;
  }
  add(batch: WatchEvent[]): void {
    this.accepted.push(...batch);
    // Drop the oldest whole revision while more than `capacity` events are kept.
    for (let kept = this.kept(); kept.length > this.capacity; kept = this.kept()) {
      this.floor = kept[0]!.revision;
    }
  }
  kept(): WatchEvent[] {
    return this.accepted.filter((e) => e.revision > this.floor);
  }
}

describe('EventLog', () => {
  it('loses, reorders and repeats nothing; resumes replay exactly what is kept', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(step, { maxLength: 120 }),
        (capacity, steps) => {
          const start = 100;
          const log = new EventLog(start, capacity);
          const model = new Model(start, capacity);
          const batches: WatchEvent[][] = [];
          const subs: Array<{ got: WatchEvent[]; want: WatchEvent[]; kinds: Set<WatchKind> }> = [];
          let rev = start;
          let n = 0;
          for (const s of steps) {
            if (s.t === 'batch') {
              rev++;
              // The same object may change twice in one transaction: both events count.
              const batch = s.ids.map((x): WatchEvent => ({
                revision: rev,
                kind: KINDS[x.kind]!,
                type: 'put',
                id: `o${x.id}`,
                value: n++,
              }));
              batches.push(batch);
              log.publish(batch);
              model.add(batch);
              for (const sub of subs) sub.want.push(...batch.filter((e) => sub.kinds.has(e.kind)));
            } else if (s.t === 'echo') {
              // The store watch delivering a batch again, as objects equal to the published ones.
              // Its last event per object, as the watch has one version of each key per revision.
              const b = batches[batches.length - 1 - s.back];
              if (b !== undefined && b[0]!.revision > model.floor) {
                const last = new Map(b.map((e) => [`${e.kind} ${e.id}`, { ...e }]));
                log.publish([...last.values()]);
              }
            } else {
              const from = rev + 1 - s.back;
              const kinds = new Set(KINDS.filter((_, i) => s.kinds[i]));
              const got: WatchEvent[] = [];
              if (from <= model.floor) {
                assert.throws(
                  () => log.subscribe([...kinds], from, (e) => got.push(e)),
                  (err) => isRomanaError(err, 'Compacted'),
                );
                continue;
              }
              log.subscribe([...kinds], from, (e) => got.push(e));
              const want = model.kept().filter((e) => e.revision >= from && kinds.has(e.kind));
              subs.push({ got, want, kinds });
            }
          }
          for (const sub of subs) assert.deepEqual(sub.got.map(show), sub.want.map(show));
          // Every resume point after the run.
          for (let from = start - 1; from <= rev + 1; from++) {
            const got: WatchEvent[] = [];
            if (from <= model.floor) {
              assert.throws(
                () => log.subscribe(KINDS, from, (e) => got.push(e)),
                (err) => isRomanaError(err, 'Compacted'),
              );
            } else {
              log.subscribe(KINDS, from, (e) => got.push(e)).close();
              const want = model.kept().filter((e) => e.revision >= from);
              assert.deepEqual(got.map(show), want.map(show));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('publishes in O(1) once full: as fast as a log that never drops anything', () => {
    const CAP = 10_000;
    /** Publishes one event per revision from `from`; the time in ns. */
    const publish = (log: EventLog, from: number, count: number): number => {
      const t0 = process.hrtime.bigint();
      for (let r = from; r < from + count; r++) {
        log.publish([{ revision: r, kind: 'addresses', type: 'put', id: `a${r}`, value: r }]);
      }
      return Number(process.hrtime.bigint() - t0);
    };
    let free = Infinity;
    let full = Infinity;
    for (let round = 0; round < 3; round++) {
      const never = new EventLog(0, 1e9);
      const log = new EventLog(0, CAP);
      publish(never, 1, CAP);
      publish(log, 1, CAP);
      // The same work; only `log` drops its oldest event at each publish (the old log copied
      // all it kept each time: about 100x slower here).
      free = Math.min(free, publish(never, CAP + 1, CAP));
      full = Math.min(full, publish(log, CAP + 1, CAP));
    }
    assert.ok(full < 5 * free, `never full: ${free / 1e6} ms; full: ${full / 1e6} ms`);
  });
});
