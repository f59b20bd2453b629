// SPDX-License-Identifier: MIT
/**
 * The snapshot stream of one device: the current consistent snapshot on
 * subscribe, then one per commit, conflated, shared by every subscriber (one
 * commit watcher, a replay of one), completing when the device closes.
 * @module
 */
import { Observable, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
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

  /**
   * The connection: while anybody subscribes, one commit watcher feeds every
   * subscriber, and the latest snapshot emitted is replayed to subscribers
   * that come later. It is what `distinctUntilChanged` by generation and
   * `share` with a `ReplaySubject(1)` (reset on error, on complete and at
   * refcount zero) do, written out: a commit's snapshot goes straight from
   * the wake-up to the subscribers, with no operator or subject in between
   * (issue 20: P2 and P3).
   */
  let live: Connection | undefined;

  const connect = (c: Connection): void => {
    let retry: Subscription | undefined;
    let backoffMs = 1;
    /** A writer is in and the backend tells us when it leaves: wait for that. */
    let awaitingRelease = false;
    const attempt = (): void => {
      if (c.ended) return;
      retry?.unsubscribe();
      retry = undefined;
      awaitingRelease = false;
      const s = take();
      if (s) {
        backoffMs = 1;
        c.next(s);
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
    let stop: (() => void) | undefined;
    let stopReleases: (() => void) | undefined;
    let closing: Subscription | undefined;
    /** Stops what was started (each once): it may run while connect() is still starting things. */
    c.teardown = () => {
      const [s, r, cl] = [stop, stopReleases, closing];
      stop = stopReleases = closing = undefined;
      s?.();
      r?.();
      retry?.unsubscribe();
      cl?.unsubscribe();
    };
    closing = source.closed$.subscribe(() => c.complete());
    if (!c.ended) stopReleases = backend.watchReleases?.(() => { if (awaitingRelease) attempt(); });
    if (!c.ended) {
      stop = backend.watchCommits(
        () => attempt(),
        (errno) => c.error(systemError('poll', errno)),
      );
    }
    // Ended while starting (closed, a poll error): stop what started after that.
    if (c.ended) {
      c.teardown();
      return;
    }
    attempt();
  };

  /** Ends `c` (error, complete, or nobody left): it stops watching, and the next subscriber connects anew. */
  const end = (c: Connection): void => {
    if (c.ended) return;
    c.ended = true;
    if (live === c) live = undefined;
    c.teardown?.();
  };

  class Connection {
    subscribers: readonly Subscriber<Snapshot>[] = [];
    /** The latest snapshot emitted: replayed on subscribe, and what a new one must differ from (its generation). */
    latest: Snapshot | undefined;
    ended = false;
    teardown: (() => void) | undefined;

    next(s: Snapshot): void {
      if (this.latest?.generation === s.generation) return;
      this.latest = s;
      // Subscribers that (un)subscribe meanwhile replace the array: this one stays as it was.
      const subscribers = this.subscribers;
      for (let i = 0; i < subscribers.length; i++) (subscribers[i] as Subscriber<Snapshot>).next(s);
    }

    error(e: unknown): void {
      const subscribers = this.subscribers;
      end(this);
      for (const o of subscribers) o.error(e);
    }

    complete(): void {
      const subscribers = this.subscribers;
      end(this);
      for (const o of subscribers) o.complete();
    }
  }

  return new Observable<Snapshot>((subscriber) => {
    const first = live === undefined;
    const c = live ?? (live = new Connection());
    c.subscribers = [...c.subscribers, subscriber];
    if (first) connect(c);
    else if (c.latest) subscriber.next(c.latest);
    return () => {
      c.subscribers = c.subscribers.filter((o) => o !== subscriber);
      if (c.subscribers.length === 0) end(c);
    };
  });
}
