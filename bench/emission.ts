// SPDX-License-Identifier: MIT
// What a snapshots$ subscriber costs per commit, measured synchronously (the
// library's own snapshot stream, its commit notice driven by hand): shared
// by bench/host.ts (stand-in) and bench/growth.ts (the driver, in a guest).
import { asyncScheduler, NEVER, type Observable } from 'rxjs';
import type { Backend } from '../lib/backend.js';
import { openNativeBackend, type NativeBackend } from '../lib/native/native-backend.js';
import type { Snapshot } from '../lib/snapshot.js';
import { snapshotStream, type SnapshotRange } from '../lib/snapshot-stream.js';

/** ns per op of fn, after a warm-up pass of the same size. */
export function time(label: string, ops: number, fn: () => void): number {
  fn(); // warm-up pass, same size: lets the JIT settle
  const t0 = process.hrtime.bigint();
  fn();
  const ns = Number(process.hrtime.bigint() - t0) / ops;
  process.stderr.write(`${label}: ${ns.toFixed(1)} ns/op\n`);
  return ns;
}

/**
 * The device's own snapshot stream over `b`, with the commit notice in our
 * hands (`notify`), so one commit and its delivery run synchronously: the
 * figure is the library's work per commit (copy, Snapshot, Rx) at host
 * speed, with no event-loop turn in it.
 */
export function stream(b: NativeBackend, range?: SnapshotRange): { snapshots$: Observable<Snapshot>; notify: () => void } {
  let notify: () => void = () => {};
  const wrapped: Pick<Backend, 'size' | 'seq' | 'snapshot' | 'watchCommits'> = {
    size: b.size,
    seq: () => b.seq(),
    snapshot: (offset, length) => b.snapshot(offset, length),
    watchCommits: (onCommit) => { notify = onCommit; return () => {}; },
  };
  const snapshots$ = snapshotStream({
    backend: wrapped as Backend, scheduler: asyncScheduler, heldPage: () => undefined, closed$: NEVER,
  }, range);
  return { snapshots$, notify: () => notify() };
}

/**
 * ns per commit delivered to `subscribers` subscribers of a `pages`-page
 * region (of `range` only: what select$(layout) and snapshotRange$ use),
 * commit cost subtracted.
 */
export function emission(path: string, subscribers: number, ops: number, pages: number,
  pipe: (s$: Observable<Snapshot>) => Observable<unknown> = (s$) => s$, range?: SnapshotRange): number {
  const b = openNativeBackend(path, false);
  const { snapshots$, notify } = stream(b, range);
  let received = 0;
  const subs = Array.from({ length: subscribers }, () => pipe(snapshots$).subscribe(() => { received++; }));
  const commit = (i: number): void => {
    b.tryLock(true);
    b.data[0] = i & 0xff;
    b.data[1] = (i >> 8) & 0xff;
    b.unlock(true);
  };
  const withDelivery = time(`commit + delivery, ${pages} page(s), ${subscribers} subscriber(s)`, ops, () => {
    for (let i = 0; i < ops; i++) {
      commit(i);
      notify();
    }
  });
  const commitOnly = time(`commit alone, ${pages} page(s)`, ops, () => {
    for (let i = 0; i < ops; i++) commit(i);
  });
  for (const s of subs) s.unsubscribe();
  b.close();
  if (received < ops * subscribers) throw new Error(`only ${received} deliveries for ${ops * subscribers}`);
  return withDelivery - commitOnly;
}

