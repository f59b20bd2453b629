// A scripted Backend for unit specs of lib/lock-queue, lib/snapshot-stream and
// lib/device: every call is recorded, every wait is ended by the spec.
import { constants } from 'node:os';
import type { Backend, DeviceInfo, LockAttempt, RawSnapshot } from '../../lib/backend.js';

const E = constants.errno;

export interface StubWait {
  timeoutMs: number;
  cancels: number;
  done(errno: number, ownerDied?: boolean, generation?: bigint): void;
}

export interface StubKernelWrite {
  offset: number;
  bytes: Uint8Array;
  timeoutMs: number;
  done(errno: number, generation?: bigint): void;
}

export class StubBackend implements Backend {
  readonly path = 'stub';
  readonly data: Uint8Array;
  /** Someone (another file) holds the lock: tryLock answers EBUSY. */
  taken = false;
  /** What tryLock answers when the lock is not taken (default: granted). */
  tryErrno = 0;
  ownerDied = false;
  generation = 0n;
  seqValue = 0;
  /** snapshot() answers undefined while true (a writer stays in). */
  writerIn = false;
  readonly tryLocks: boolean[] = [];
  readonly waits: StubWait[] = [];
  readonly kernelWrites: StubKernelWrite[] = [];
  readonly unlocks: boolean[] = [];
  readonly watchers = new Set<{ onCommit: () => void; onError: (errno: number) => void }>();
  snapshots = 0;
  closed = 0;

  constructor(readonly readOnly = false, readonly size = 64) {
    this.data = new Uint8Array(size);
  }

  /** The waits still running (not ended by done()). */
  get waiting(): StubWait[] {
    return this.waits.filter((w) => !(w as { ended?: boolean }).ended);
  }

  tryLock(fastPath = true): LockAttempt {
    this.tryLocks.push(fastPath);
    if (this.taken) return { ok: false, errno: E.EBUSY };
    if (this.tryErrno) return { ok: false, errno: this.tryErrno };
    this.taken = true;
    return { ok: true, ownerDied: this.ownerDied, generation: this.generation };
  }

  lock(timeoutMs: number, done: (errno: number, ownerDied: boolean, generation: bigint) => void): () => void {
    const w: StubWait & { ended?: boolean } = {
      timeoutMs,
      cancels: 0,
      done: (errno, ownerDied = false, generation = this.generation) => {
        w.ended = true;
        if (errno === 0) this.taken = true;
        done(errno, ownerDied, generation);
      },
    };
    this.waits.push(w);
    return () => { w.cancels++; };
  }

  unlock(commit: boolean): number {
    this.unlocks.push(commit);
    this.taken = false;
    if (commit) {
      this.generation++;
      this.seqValue += 2;
    }
    return 0;
  }

  /** Another file commits: the generation moves and watchers hear of it. */
  commitElsewhere(): void {
    this.generation++;
    this.seqValue += 2;
    for (const w of this.watchers) w.onCommit();
  }

  seq(): number {
    return this.seqValue;
  }

  /** The bytes snapshot() copied, in total: a ranged stream copies only its range. */
  copiedBytes = 0;

  snapshot(offset = 0, length = this.data.length - offset): RawSnapshot | undefined {
    this.snapshots++;
    if (this.writerIn) return undefined;
    this.copiedBytes += length;
    return { bytes: this.data.slice(offset, offset + length), generation: this.generation, seq: this.seqValue };
  }

  watchCommits(onCommit: () => void, onError: (errno: number) => void): () => void {
    const w = { onCommit, onError };
    this.watchers.add(w);
    return () => { this.watchers.delete(w); };
  }

  info(): DeviceInfo {
    throw new Error('not scripted');
  }

  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number,
    done: (errno: number, generation: bigint) => void): void {
    this.kernelWrites.push({ offset, bytes, timeoutMs, done: (errno, generation = this.generation) => done(errno, generation) });
  }

  close(): void {
    this.closed++;
  }
}
