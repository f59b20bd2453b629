/**
 * The real backend: /dev/kshm through libkshm and koffi.
 *
 * - Uncontended locking takes the lock word in the mapped control page with
 *   Atomics.compareExchange (no syscall, no FFI call), following the ABI's
 *   fast path; with `fastPath: false` it is a synchronous trylock ioctl.
 *   Only a contended lock waits, in kshm_lock_epoch on a libuv worker (koffi
 *   `.async`), and can be cancelled from the main thread (kshm_cancel).
 * - Snapshots run the seqcount protocol on the mapped control page with Atomics,
 *   with no call into C at all on x86-64 (its loads are not reordered with
 *   each other, so the copy cannot move past the second seq read); other
 *   architectures use libkshm's fenced copy.
 * - Commits are watched with koffi.node.poll on the device fd: the main
 *   loop's epoll, no timer, no worker thread.
 * @module
 */
import koffi from 'koffi';
import { constants } from 'node:os';
import {
  CTRL, CTRL_SIZE, HDR_KERNEL_HOLDER, HDR_LOCKED, HDR_OWNER_DIED, LOCK_OWNER_DIED, LW_DIED, LW_OWNER_MASK,
  UNLOCK_ABORT, UNLOCK_COMMIT, UNLOCK_PUBLISHED,
} from '../abi.js';
import type { Backend, DeviceInfo, LockAttempt, RawSnapshot } from '../backend.js';
import {
  AbiMismatchError, DeviceNotFoundError, KshmSystemError, NotAKshmDeviceError, PermissionDeniedError,
} from '../errors.js';
import { KSHM_E_ABI, KSHM_E_MAGIC, libkshm, OPEN_NO_FASTPATH, OPEN_READONLY, type LibKshm } from './libkshm.js';

const E = constants.errno;
const LOCK = CTRL.lock / 4;
const SEQ = CTRL.seq / 4;
const POLLERS = CTRL.pollers / 4;
const GENERATION = CTRL.generation / 8;
const GEN_LO = CTRL.generation / 4;
const GEN_HI = GEN_LO + 1;
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
  const h = lib.open(path, readOnly ? OPEN_READONLY : OPEN_NO_FASTPATH) as number;
  if (h > 0) return new NativeBackend(lib, h, path, readOnly);
  const errno = -h;
  if (errno === E.ENOENT) throw new DeviceNotFoundError(path);
  if (errno === E.EACCES || errno === E.EPERM) throw new PermissionDeniedError(path, errno);
  if (errno === KSHM_E_ABI) throw new AbiMismatchError(lib.lastError() as string);
  if (errno === KSHM_E_MAGIC) {
    throw new NotAKshmDeviceError(path, lib.lastError() as string);
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
  readonly #ctrl32: Uint32Array;
  readonly #ctrl64: BigUint64Array;
  /** This open file's id in the lock word; 0 when it cannot write. */
  readonly #id: number;
  /** The lock is held, taken on the fast path: release it there too. */
  #heldFast = false;
  /** The last generation read as a bigint, and its two halves: saves an allocation per read. */
  #gen = 0n;
  #genLo = 0;
  #genHi = 0;
  /** Reused for every fast grant: the device reads it at once and keeps nothing. */
  readonly #granted = { ok: true as const, ownerDied: false, generation: 0n };
  readonly #polls = new Set<PollHandle>();
  #slab = new ArrayBuffer(0);
  #slabUsed = 0;
  #closed = false;

  constructor(lib: LibKshm, handle: number, readonly path: string, readonly readOnly: boolean) {
    this.#lib = lib;
    this.#h = handle;
    this.size = toNum(lib.dataSize(handle));
    const ctrl = koffi.view(lib.ctrlPtr(handle), CTRL_SIZE);
    this.#ctrl32 = new Uint32Array(ctrl);
    this.#ctrl64 = new BigUint64Array(ctrl);
    this.#id = readOnly ? 0 : lib.fileId(handle) as number;
    this.data = new Uint8Array(koffi.view(lib.dataPtr(handle), this.size));
    open.add(this);
    installExitHook();
  }

  /** The generation at a grant; the mapped pages are gone after close(): never read them then. */
  #generation(): bigint {
    return this.#closed ? 0n : this.#heldGeneration();
  }

  surelyTaken(): boolean {
    return !this.#closed && (Atomics.load(this.#ctrl32, LOCK) & LW_OWNER_MASK) !== 0;
  }

  tryLock(fastPath = true): LockAttempt {
    if (this.#closed) return { ok: false, errno: E.EBADF };
    if (fastPath && this.#id !== 0) {
      const taken = this.#fastAcquire();
      if (taken !== undefined) return taken;
    }
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

  /**
   * The ABI's fast acquire: CAS the free word to our id (or a DIED word to
   * id|DIED), then open the write section (seq odd). undefined: only the
   * driver can tell (waiters flagged on a free word, or a forged word).
   */
  #fastAcquire(): LockAttempt | undefined {
    const c = this.#ctrl32;
    const id = this.#id;
    let ownerDied = false;
    const seen = Atomics.compareExchange(c, LOCK, 0, id);
    if (seen !== 0) {
      const owner = seen & LW_OWNER_MASK;
      if (owner === id) return { ok: false, errno: E.EDEADLK };
      if (owner !== 0) return { ok: false, errno: E.EBUSY };
      if (seen !== LW_DIED || Atomics.compareExchange(c, LOCK, LW_DIED, (id | LW_DIED) >>> 0) !== LW_DIED) {
        return undefined;
      }
      ownerDied = true;
    }
    // Only the holder writes seq: a plain read of it is exact here.
    Atomics.store(c, SEQ, (c[SEQ] as number) | 1);
    this.#heldFast = true;
    const granted = this.#granted;
    granted.ownerDied = ownerDied;
    granted.generation = this.#heldGeneration();
    return granted;
  }

  /** The generation, read while holding the lock (nobody else changes it then). */
  #heldGeneration(): bigint {
    const c = this.#ctrl32;
    const lo = c[GEN_LO] as number;
    const hi = c[GEN_HI] as number;
    if (lo !== this.#genLo || hi !== this.#genHi) {
      this.#genLo = lo;
      this.#genHi = hi;
      this.#gen = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    }
    return this.#gen;
  }

  unlock(commit: boolean): number {
    if (this.#closed) return E.EBADF;
    if (this.#heldFast) return this.#fastRelease(commit);
    return -(this.#lib.unlock(this.#h, commit ? UNLOCK_COMMIT : UNLOCK_ABORT) as number);
  }

  /**
   * The ABI's fast release: publish (generation, then seq even), then CAS the
   * word free. When that fails, waiters are queued: the driver hands over.
   * After a commit, wake pollers only if one said it sleeps.
   */
  #fastRelease(commit: boolean): number {
    this.#heldFast = false;
    const c = this.#ctrl32;
    // A plain read is enough: the CAS below checks the word again.
    const word = c[LOCK] as number;
    if ((word & LW_OWNER_MASK) !== this.#id) return E.EPERM;	// the driver took it back
    if (commit) {
      // Two plain halves (the holder is the only writer; readers check seq,
      // whose atomic store below orders these before it).
      const lo = ((c[GEN_LO] as number) + 1) >>> 0;
      c[GEN_LO] = lo;
      if (lo === 0) c[GEN_HI] = ((c[GEN_HI] as number) + 1) >>> 0;
    }
    Atomics.store(c, SEQ, ((c[SEQ] as number) | 1) + 1);
    const died = (word & LW_DIED) >>> 0;
    const mine = (this.#id | died) >>> 0;
    if (Atomics.compareExchange(c, LOCK, mine, commit ? 0 : died) === mine) {
      // Atomics are sequentially consistent: the generation store is
      // ordered before this load, as the pollers handshake needs.
      if (commit && Atomics.load(c, POLLERS) !== 0) this.#lib.wake(this.#h);
      return 0;
    }
    const how = (commit ? UNLOCK_COMMIT : UNLOCK_ABORT) | UNLOCK_PUBLISHED;
    return -(this.#lib.unlock(this.#h, how) as number);
  }

  seq(): number {
    return this.#closed ? -1 : Atomics.load(this.#ctrl32, SEQ);
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
    const ctrl = this.#ctrl32;
    for (let tries = 0; tries < 256; tries++) {
      const s1 = Atomics.load(ctrl, SEQ);
      if (s1 & 1) continue;
      dst.set(this.data);
      const generation = this.#ctrl64[GENERATION] as bigint;
      if (Atomics.load(ctrl, SEQ) === s1) return { generation, seq: s1 };
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
