// SPDX-License-Identifier: MIT
import { constants } from 'node:os';
import type { Backend, DeviceInfo, LockAttempt, RawSnapshot } from '../backend.js';
import type { FakeRegion } from './fake-region.js';

const E = constants.errno;

/** One opener of a {@link FakeRegion}: what an open file of /dev/kshm is to the driver. */
export class FakeBackend implements Backend {
  readonly #region: FakeRegion;
  readonly #watchers = new Set<() => void>();
  #closed = false;

  constructor(region: FakeRegion, readonly path: string, readonly readOnly: boolean) {
    this.#region = region;
  }

  get size(): number { return this.#region.size; }
  get data(): Uint8Array { return this.#region.data; }

  tryLock(): LockAttempt {
    if (this.#closed) return { ok: false, errno: E.EBADF };
    if (this.readOnly) return { ok: false, errno: E.EBADF };
    const r = this.#region.tryLock(this);
    return r.errno ? { ok: false, errno: r.errno } : { ok: true, ownerDied: r.ownerDied, generation: this.#region.generation };
  }

  lock(timeoutMs: number, done: (errno: number, ownerDied: boolean, generation: bigint) => void): () => void {
    if (this.#closed || this.readOnly) {
      this.#region.scheduler.schedule(() => done(E.EBADF, false, 0n));
      return () => {};
    }
    return this.#region.lock(this, timeoutMs, (errno, ownerDied) => done(errno, ownerDied, this.#region.generation));
  }

  unlock(commit: boolean): number {
    if (this.#closed || this.readOnly) return E.EBADF;
    return this.#region.unlock(this, commit);
  }

  seq(): number {
    return this.#region.seq;
  }

  snapshot(): RawSnapshot | undefined {
    const r = this.#region;
    if (r.seq & 1) return undefined;
    return { bytes: r.data.slice(), generation: r.generation, seq: r.seq };
  }

  watchCommits(onCommit: () => void): () => void {
    const w = (): void => onCommit();
    this.#watchers.add(w);
    this.#region.watchers.add(w);
    return () => {
      this.#watchers.delete(w);
      this.#region.watchers.delete(w);
    };
  }

  info(): DeviceInfo {
    const r = this.#region;
    return {
      abiVersion: 1,
      pages: r.pages,
      pageSize: r.pageSize,
      size: r.size,
      generation: r.generation,
      holderPid: r.owner ? r.ownerPid : 0,
      locked: r.owner !== undefined,
      kernelHolds: r.owner === r.kernel,
      ownerDied: r.ownerDied,
      waiters: r.waiters.length,
      tickMs: r.tickMs,
      counters: { ...r.counters },
    };
  }

  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number,
    done: (errno: number, generation: bigint) => void): void {
    const r = this.#region;
    if (this.#closed || this.readOnly) {
      r.scheduler.schedule(() => done(E.EBADF, 0n));
      return;
    }
    if (r.owner === this) {
      r.scheduler.schedule(() => done(E.EDEADLK, 0n));
      return;
    }
    r.lock(r.kernel, timeoutMs, (errno) => {
      if (errno) {
        done(errno, 0n);
        return;
      }
      r.data.set(bytes, offset);
      r.counters.kernelWrites++;
      r.unlock(r.kernel, true);
      done(0, r.generation);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watchers) this.#region.watchers.delete(w);
    this.#watchers.clear();
    this.#region.ownerGone(this);
  }
}
