/**
 * The real backend: /dev/kshm through libkshm and koffi.
 *
 * - Uncontended locking is a synchronous trylock; only a contended lock
 *   waits, in kshm_lock_epoch on a libuv worker (koffi `.async`), and can be
 *   cancelled from the main thread (kshm_cancel).
 * - Snapshots run the seqcount protocol on the mapped header with Atomics,
 *   with no call into C at all on x86-64 (its loads are not reordered with
 *   each other, so the copy cannot move past the second seq read); other
 *   architectures use libkshm's fenced copy.
 * - Commits are watched with koffi.node.poll on the device fd: the main
 *   loop's epoll, no timer, no worker thread.
 * @module
 */
import koffi from 'koffi';
import { constants } from 'node:os';
import { HDR_KERNEL_HOLDER, HDR_LOCKED, HDR_OWNER_DIED, HEADER, LOCK_OWNER_DIED, UNLOCK_ABORT, UNLOCK_COMMIT } from '../abi.js';
import type { Backend, DeviceInfo, LockAttempt, RawSnapshot } from '../backend.js';
import {
  AbiMismatchError, DeviceNotFoundError, KshmError, KshmSystemError, PermissionDeniedError,
} from '../errors.js';
import { KSHM_E_ABI, KSHM_E_MAGIC, libkshm, OPEN_READONLY, type LibKshm } from './libkshm.js';

const E = constants.errno;
const SEQ = HEADER.seq / 4;
const FLAGS = HEADER.flags / 4;
const GENERATION = HEADER.generation / 8;
const SLAB_BYTES = 1 << 20;
const FENCED_JS_SNAPSHOT = process.arch === 'x64' || process.arch === 'ia32';

type PollHandle = { close(): void };
type PollFn = (fd: number, opts: { readable: boolean },
  cb: (status: number, events: { readable: boolean }) => void) => PollHandle;

/** Every open native backend, so that process exit can cancel their blocked calls. */
const open = new Set<NativeBackend>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A worker blocked in LOCK would hold up Node's exit (the pool is joined).
  process.once('exit', () => { for (const b of open) b.close(); });
}

/** Opens the device, or throws the typed error that says what to do. */
export function openNativeBackend(path: string, readOnly: boolean): NativeBackend {
  const lib = libkshm();
  const h = lib.open(path, readOnly ? OPEN_READONLY : 0) as number;
  if (h > 0) return new NativeBackend(lib, h, path, readOnly);
  const errno = -h;
  if (errno === E.ENOENT) throw new DeviceNotFoundError(path);
  if (errno === E.EACCES || errno === E.EPERM) throw new PermissionDeniedError(path, errno);
  if (errno === KSHM_E_ABI) throw new AbiMismatchError(lib.lastError() as string);
  if (errno === KSHM_E_MAGIC) {
    throw new KshmError('KSHM_NOT_A_DEVICE', `${path} is not a kshm device: ${lib.lastError() as string}`);
  }
  throw new KshmSystemError(`opening ${path}`, errno, lib.strerror(h) as string);
}

const toBig = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as number));
const toNum = (v: unknown): number => Number(v);

export class NativeBackend implements Backend {
  readonly size: number;
  readonly data: Uint8Array;
  readonly #lib: LibKshm;
  readonly #h: number;
  readonly #hdr32: Uint32Array;
  readonly #hdr64: BigUint64Array;
  readonly #polls = new Set<PollHandle>();
  #slab = new ArrayBuffer(0);
  #slabUsed = 0;
  #closed = false;

  constructor(lib: LibKshm, handle: number, readonly path: string, readonly readOnly: boolean) {
    this.#lib = lib;
    this.#h = handle;
    this.size = toNum(lib.dataSize(handle));
    const header = koffi.view(lib.headerPtr(handle), 128);
    this.#hdr32 = new Uint32Array(header);
    this.#hdr64 = new BigUint64Array(header);
    this.data = new Uint8Array(koffi.view(lib.dataPtr(handle), this.size));
    open.add(this);
    installExitHook();
  }

  /** The mapped header and data are gone after close(): never read them then. */
  #generation(): bigint {
    return this.#closed ? 0n : this.#hdr64[GENERATION] as bigint;
  }

  surelyTaken(): boolean {
    return !this.#closed && (Atomics.load(this.#hdr32, FLAGS) & HDR_LOCKED) !== 0;
  }

  tryLock(): LockAttempt {
    if (this.#closed) return { ok: false, errno: E.EBADF };
    const ret = this.#lib.try(this.#h) as number;
    if (ret < 0) return { ok: false, errno: -ret };
    return { ok: true, ownerDied: (ret & LOCK_OWNER_DIED) !== 0, generation: this.#generation() };
  }

  lock(timeoutMs: number, done: (errno: number, ownerDied: boolean, generation: bigint) => void): () => void {
    // The epoch is read now, so a cancel that comes before the worker even
    // starts still cancels this call.
    const epoch = this.#lib.cancelEpoch(this.#h);
    const out = [0];
    this.#lib.lockEpoch.async(this.#h, epoch, timeoutMs, 0, out, (err: unknown, ret: number) => {
      // This may run after close() (the wait ended as the handle closed).
      if (err) done(E.EIO, false, 0n);
      else if (ret < 0) done(-ret, false, 0n);
      else done(0, ((out[0] as number) & LOCK_OWNER_DIED) !== 0, this.#generation());
    });
    return () => {
      if (!this.#closed) this.#lib.cancel(this.#h);
    };
  }

  unlock(commit: boolean): number {
    if (this.#closed) return E.EBADF;
    return -(this.#lib.unlock(this.#h, commit ? UNLOCK_COMMIT : UNLOCK_ABORT) as number);
  }

  seq(): number {
    return this.#closed ? -1 : Atomics.load(this.#hdr32, SEQ);
  }

  snapshot(): RawSnapshot | undefined {
    if (this.#closed) return undefined;
    if (!FENCED_JS_SNAPSHOT) return this.#snapshotNative();
    const bytes = this.#allocate();
    const r = this.copyInto(bytes);
    return r ? { bytes, generation: r.generation, seq: r.seq } : undefined;
  }

  /**
   * The seqcount-validated copy itself, into memory the caller owns (the
   * snapshot above adds only the allocation). undefined: a writer stayed in.
   */
  copyInto(dst: Uint8Array): { generation: bigint; seq: number } | undefined {
    if (this.#closed) return undefined;
    const hdr = this.#hdr32;
    for (let tries = 0; tries < 256; tries++) {
      const s1 = Atomics.load(hdr, SEQ);
      if (s1 & 1) continue;
      dst.set(this.data);
      const generation = this.#hdr64[GENERATION] as bigint;
      if (Atomics.load(hdr, SEQ) === s1) return { generation, seq: s1 };
    }
    return undefined;
  }

  /**
   * Memory for one snapshot, carved from a 1 MiB slab: a fresh 4 KiB typed
   * array costs ~20x the copy itself (off-heap allocation); a slab lives
   * until every snapshot cut from it is garbage.
   */
  #allocate(): Uint8Array {
    if (this.#slabUsed + this.size > this.#slab.byteLength) {
      this.#slab = new ArrayBuffer(Math.max(SLAB_BYTES, this.size));
      this.#slabUsed = 0;
    }
    const view = new Uint8Array(this.#slab, this.#slabUsed, this.size);
    this.#slabUsed += this.size;
    return view;
  }

  #snapshotNative(): RawSnapshot | undefined {
    const bytes = new Uint8Array(this.size);
    const gen = [0n];
    const seq = this.seq();
    const ret = this.#lib.snapshot(this.#h, bytes, 0, this.size, gen, 0) as number;
    return ret === 0 ? { bytes, generation: toBig(gen[0]), seq } : undefined;
  }

  watchCommits(onCommit: () => void, onError: (errno: number) => void): () => void {
    const fd = this.#lib.fd(this.#h) as number;
    const poll = koffi.node.poll as unknown as PollFn;
    const handle = poll(fd, { readable: true }, (status) => {
      if (status < 0) {
        onError(-status);
        return;
      }
      // Mark the generation seen, or the fd stays readable.
      this.#lib.consume(this.#h, null);
      onCommit();
    });
    this.#polls.add(handle);
    return () => {
      if (this.#polls.delete(handle)) handle.close();
    };
  }

  info(): DeviceInfo {
    const i = {} as Record<string, unknown>;
    const ret = this.#lib.info(this.#h, i) as number;
    if (ret < 0) throw new KshmSystemError('INFO', -ret);
    const flags = toNum(i['flags']);
    return {
      abiVersion: toNum(i['abi_version']),
      pages: toNum(i['pages']),
      pageSize: toNum(i['page_size']),
      size: this.size,
      generation: toBig(i['generation']),
      holderPid: toNum(i['holder_pid']),
      locked: (flags & HDR_LOCKED) !== 0,
      kernelHolds: (flags & HDR_KERNEL_HOLDER) !== 0,
      ownerDied: (flags & HDR_OWNER_DIED) !== 0,
      waiters: toNum(i['waiters']),
      tickMs: toNum(i['tick_ms']),
      counters: {
        locksGranted: toNum(i['locks_granted']),
        locksContended: toNum(i['locks_contended']),
        lockTimeouts: toNum(i['lock_timeouts']),
        lockCancels: toNum(i['lock_cancels']),
        ownerDied: toNum(i['owner_died']),
        commits: toNum(i['commits']),
        aborts: toNum(i['aborts']),
        kernelWrites: toNum(i['kernel_writes']),
        ticks: toNum(i['ticks']),
        ticksSkipped: toNum(i['ticks_skipped']),
      },
    };
  }

  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number,
    done: (errno: number, generation: bigint) => void): void {
    const out = [0n];
    this.#lib.kwrite.async(this.#h, offset, bytes, bytes.length, timeoutMs, out, (err: unknown, ret: number) => {
      if (err) done(E.EIO, 0n);
      else if (ret < 0) done(-ret, 0n);
      else done(0, toBig(out[0]));
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    open.delete(this);
    // Stop epoll on the fd before the fd goes away.
    for (const p of this.#polls) p.close();
    this.#polls.clear();
    // Cancels and waits out this handle's blocked calls, then unmaps: the
    // views above must not be touched after this (KshmDevice guards them).
    this.#lib.close(this.#h);
  }
}
