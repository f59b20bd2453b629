// SPDX-License-Identifier: MIT
/**
 * The snapshot stream of one device: the current consistent snapshot on
 * subscribe, then one per commit, conflated, shared by every subscriber (one
 * commit watcher, a replay of one), completing when the device closes.
 * @module
 */
import {
  distinctUntilChanged, Observable, ReplaySubject, share, type SchedulerLike, type Subscription,
} from 'rxjs';
import type { Backend } from './backend.js';
import { systemError } from './errors.js';
import { committedBytes, stagedWrites, type Page } from './page.js';
import { createSnapshot, snapshotSeq, type Snapshot } from './snapshot.js';

/** What the stream needs from its device besides the backend. */
export interface SnapshotSource {
  readonly backend: Backend;
  /** Timers of the retry while a writer is in. */
  readonly scheduler: SchedulerLike;
  /** The page this device is writing under the lock, if any: its committed state is what readers see. */
  heldPage(): Page | undefined;
  /** Emits once when the device closes. */
  readonly closed$: Observable<void>;
}

/** The bytes a ranged stream copies: [offset, offset + length) of the region. */
export interface SnapshotRange {
  readonly offset: number;
  readonly length: number;
}

/**
 * Builds the shared snapshot stream of a device; with `range`, its snapshots
 * hold only those bytes (a copy per commit of `range.length` bytes, not of
 * the region).
 */
export function snapshotStream(source: SnapshotSource, range?: SnapshotRange): Observable<Snapshot> {
  const { backend, scheduler } = source;
  let last: Snapshot | undefined;
  const whole = range === undefined || (range.offset === 0 && range.length === backend.size);

  /** The latest consistent snapshot, reused (no copy) while nothing changed. */
  const take = (): Snapshot | undefined => {
    const held = source.heldPage();
    // A staged holder never writes the shared data: the backend's copy is the committed state.
    if (held?.live && !stagedWrites(held)) {
      // We are the writer in place: show the committed state, not our work in progress.
      if (last?.generation !== held.generation) {
        const committed = committedBytes(held);
        last = whole ? createSnapshot(committed, held.generation, -1)
          : createSnapshot(committed.slice(range.offset, range.offset + range.length), held.generation, -1,
            range.offset, backend.size);
      }
      return last;
    }
    if (last && backend.seq() === snapshotSeq(last)) return last;
    if (whole) {
      const raw = backend.snapshot();
      if (!raw) return undefined;
      last = createSnapshot(raw.bytes, raw.generation, raw.seq);
    } else {
      const raw = backend.snapshot(range.offset, range.length);
      if (!raw) return undefined;
      last = createSnapshot(raw.bytes, raw.generation, raw.seq, range.offset, backend.size);
    }
    return last;
  };

  const commits$ = new Observable<Snapshot>((subscriber) => {
    let retry: Subscription | undefined;
    let backoffMs = 1;
    /** A writer is in and the backend tells us when it leaves: wait for that. */
    let awaitingRelease = false;
    const attempt = (): void => {
      retry?.unsubscribe();
      retry = undefined;
      awaitingRelease = false;
      const s = take();
      if (s) {
        backoffMs = 1;
        subscriber.next(s);
        return;
      }
      if (stopReleases) {
        // The backend wakes us when the writer leaves (commit or abort): no timer.
        awaitingRelease = true;
        return;
      }
      // A writer is in: try again shortly (a commit wakes us at once anyway,
      // but on the driver an abort or a dead holder does not).
      retry = scheduler.schedule(attempt, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 50);
    };
    const closing = source.closed$.subscribe(() => subscriber.complete());
    const stopReleases = backend.watchReleases?.(() => { if (awaitingRelease) attempt(); });
    const stop = backend.watchCommits(
      () => attempt(),
      (errno) => subscriber.error(systemError('poll', errno)),
    );
    attempt();
    return () => {
      stop();
      stopReleases?.();
      retry?.unsubscribe();
      closing.unsubscribe();
    };
  });

  return commits$.pipe(
    distinctUntilChanged((a, b) => a.generation === b.generation),
    share({
      connector: () => new ReplaySubject<Snapshot>(1),
      resetOnError: true,
      resetOnComplete: true,
      resetOnRefCountZero: true,
    }),
  );
}
