// lib/snapshot-stream.ts in virtual time against a scripted backend: one
// commit watcher, reuse without a copy, retry while a writer is in, the
// writer's own committed view, close and poll errors.
import { asyncScheduler, of, Subject, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KshmSystemError } from '../../lib/errors.js';
import { createPage, type Page } from '../../lib/page.js';
import type { Snapshot } from '../../lib/snapshot.js';
import { snapshotStream } from '../../lib/snapshot-stream.js';
import { StubBackend } from './stub-backend.js';

const test = suite('snapshot-stream (stub backend, virtual time)');
const virtual = (fn: (helpers: { flush: () => void }) => void): void => {
  new TestScheduler((a, b) => assert.equal(a, b)).run(fn);
};

function stream(b: StubBackend, heldPage: () => Page | undefined = () => undefined) {
  const closed$ = new Subject<void>();
  return { closed$, s$: snapshotStream({ backend: b, scheduler: asyncScheduler, closed$, heldPage }) };
}

test('the current snapshot on subscribe, then one per commit, one watcher for every subscriber', () => {
  virtual(() => {
    const b = new StubBackend();
    const { s$ } = stream(b);
    const seen: bigint[] = [];
    const subs = [s$.subscribe((s) => seen.push(s.generation)), s$.subscribe()];
    assert.is(b.watchers.size, 1);
    b.commitElsewhere();
    b.commitElsewhere();
    assert.equal(seen, [0n, 1n, 2n]);
    for (const sub of subs) sub.unsubscribe();
    assert.is(b.watchers.size, 0, 'the watcher stops at refcount zero');
  });
});

test('no copy while seq is unchanged; a wake-up with nothing new emits nothing', () => {
  virtual(() => {
    const b = new StubBackend();
    const { s$ } = stream(b);
    const seen: Snapshot[] = [];
    s$.subscribe((s) => seen.push(s));
    for (const w of b.watchers) w.onCommit();
    assert.is(b.snapshots, 1);
    assert.is(seen.length, 1);
  });
});

test('a writer in: retried with a backoff of 1, 2, 4 ... ms until it leaves', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.writerIn = true;
    const { s$ } = stream(b);
    const at: number[] = [];
    s$.subscribe(() => at.push(asyncScheduler.now()));
    asyncScheduler.schedule(() => { b.writerIn = false; }, 10);
    flush();
    assert.equal(at, [15]); // tries at 0, 1, 3, 7, 15
    assert.is(b.snapshots, 5);
  });
});

test('a writer in, then a commit: the commit\'s wake-up reads at once, not at the next backoff retry', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.writerIn = true;
    const { s$ } = stream(b);
    const at: number[] = [];
    s$.subscribe(() => at.push(asyncScheduler.now()));
    asyncScheduler.schedule(() => { b.writerIn = false; b.commitElsewhere(); }, 20); // retries at 15, then 31
    flush();
    assert.equal(at, [20]);
  });
});

test('a backend that reports releases: a reader waits for the release, no timer (issue 18)', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    const releases = new Set<() => void>();
    (b as StubBackend & { watchReleases(f: () => void): () => void }).watchReleases = (f) => {
      releases.add(f);
      return () => { releases.delete(f); };
    };
    b.writerIn = true;
    const { s$ } = stream(b);
    const at: number[] = [];
    const sub = s$.subscribe(() => at.push(asyncScheduler.now()));
    asyncScheduler.schedule(() => {
      b.writerIn = false;
      for (const f of releases) f(); // an abort: no commit, only the release
    }, 500);
    flush();
    assert.equal(at, [500]);
    assert.is(b.snapshots, 2, 'one try on subscribe, one at the release');
    sub.unsubscribe();
    assert.is(releases.size, 0);
  });
});

test('while this device writes, readers see the committed bytes, not the work in progress', () => {
  virtual(() => {
    const b = new StubBackend();
    b.data[0] = 1;
    const page = createPage(b.data, false, 0n);
    page.setU8(0, 2);
    const { s$ } = stream(b, () => page);
    let s: Snapshot | undefined;
    s$.subscribe((x) => { s = x; });
    assert.is(s?.u8(0), 1);
    assert.is(b.snapshots, 0);
  });
});

test('completes when the device closes; a poll error is a KshmSystemError', () => {
  virtual(() => {
    const b = new StubBackend();
    const { s$, closed$ } = stream(b);
    let completed = false;
    s$.subscribe({ complete: () => { completed = true; } });
    closed$.next();
    assert.ok(completed);
    let error: unknown;
    s$.subscribe({ error: (e) => { error = e; } });
    for (const w of b.watchers) w.onError(5);
    assert.instance(error, KshmSystemError);
    assert.is((error as KshmSystemError).errno, 5);
  });
});

test('a late subscriber gets the latest snapshot at once, with no copy; after refcount zero the next one connects anew', () => {
  virtual(() => {
    const b = new StubBackend();
    const { s$ } = stream(b);
    const a: bigint[] = [];
    const late: bigint[] = [];
    const subA = s$.subscribe((s) => a.push(s.generation));
    b.commitElsewhere();
    const copies = b.snapshots;
    const subB = s$.subscribe((s) => late.push(s.generation));
    assert.equal(late, [1n], 'replayed');
    assert.is(b.snapshots, copies, 'the replay is the snapshot already made');
    b.commitElsewhere();
    assert.equal(a, [0n, 1n, 2n]);
    assert.equal(late, [1n, 2n]);
    subA.unsubscribe();
    subB.unsubscribe();
    assert.is(b.watchers.size, 0);
    const again: bigint[] = [];
    const subC = s$.subscribe((s) => again.push(s.generation));
    assert.is(b.watchers.size, 1, 'a new connection');
    assert.equal(again, [2n]);
    subC.unsubscribe();
  });
});

test('a subscriber that leaves in its first emission (take(1)) stops the watcher; the others keep theirs', () => {
  virtual(() => {
    const b = new StubBackend();
    const { s$ } = stream(b);
    const got: bigint[] = [];
    s$.pipe(take(1)).subscribe((s) => got.push(s.generation));
    assert.equal(got, [0n]);
    assert.is(b.watchers.size, 0, 'nobody left: unwatched');
    const all: bigint[] = [];
    const sub = s$.subscribe((s) => all.push(s.generation));
    s$.pipe(take(1)).subscribe();
    b.commitElsewhere();
    assert.equal(all, [0n, 1n]);
    assert.is(b.watchers.size, 1);
    sub.unsubscribe();
    assert.is(b.watchers.size, 0);
  });
});

test('a poll error ends the connection: every subscriber errors, and one resubscribing from its error handler connects anew', () => {
  virtual(() => {
    const b = new StubBackend();
    const { s$ } = stream(b);
    const errors: unknown[] = [];
    const after: bigint[] = [];
    s$.subscribe({ error: (e) => errors.push(e) });
    s$.subscribe({ error: (e) => { errors.push(e); s$.subscribe((s) => after.push(s.generation)); } });
    const [w] = [...b.watchers];
    w?.onError(5);
    assert.is(errors.length, 2);
    assert.is(b.watchers.size, 1, 'the old watcher stopped, the new connection watches');
    assert.ok(![...b.watchers].includes(w as never));
    b.commitElsewhere();
    assert.equal(after, [0n, 1n]);
  });
});

test('closed while connecting (closed$ emits at once): completes, nothing left watching', () => {
  virtual(() => {
    const b = new StubBackend();
    const s$ = snapshotStream({ backend: b, scheduler: asyncScheduler, closed$: of(undefined), heldPage: () => undefined });
    let completed = false;
    s$.subscribe({ complete: () => { completed = true; } });
    assert.ok(completed);
    assert.is(b.watchers.size, 0);
    assert.is(b.snapshots, 0);
  });
});

test.run();
