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
import { KshmSystemError } from './errors.js';
import type { Page } from './page.js';
import { Snapshot } from './snapshot.js';

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

/** Builds the shared snapshot stream of a device. */
export function snapshotStream(source: SnapshotSource): Observable<Snapshot> {
  const { backend, scheduler } = source;
  let last: Snapshot | undefined;

  /** The latest consistent snapshot, reused (no copy) while nothing changed. */
  const take = (): Snapshot | undefined => {
    const held = source.heldPage();
    if (held?.live) {
      // We are the writer: show the committed state, not our work in progress.
      if (last?.generation !== held.generation) last = new Snapshot(held.committedBytes(), held.generation, -1);
      return last;
    }
    if (last && backend.seq() === last.seq) return last;
    const raw = backend.snapshot();
    if (!raw) return undefined;
    last = new Snapshot(raw.bytes, raw.generation, raw.seq);
    return last;
  };

  const commits$ = new Observable<Snapshot>((subscriber) => {
    let retry: Subscription | undefined;
    let backoffMs = 1;
    // A writer is in: try again shortly (only while one is: a commit wakes
    // us anyway, but an abort or a dead holder does not).
    const attempt = (): void => {
      retry = undefined;
      const s = take();
      if (s) {
        backoffMs = 1;
        subscriber.next(s);
        return;
      }
      retry = scheduler.schedule(attempt, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 50);
    };
    const closing = source.closed$.subscribe(() => subscriber.complete());
    const stop = backend.watchCommits(
      () => { if (!retry) attempt(); },
      (errno) => subscriber.error(new KshmSystemError('poll', errno)),
    );
    attempt();
    return () => {
      stop();
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
