// SPDX-License-Identifier: MIT
/**
 * The real backend: /dev/kshm through libkshm and koffi.
 *
 * - Uncontended locking takes the lock word in the mapped control page with
 *   Atomics.compareExchange (no syscall, no FFI call), following the ABI's
 *   fast path; with `fastPath: false` it is a synchronous trylock ioctl.
 *   Only a contended lock waits, in kshm_lock_epoch_nospin on a libuv worker (koffi
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
import { fstatSync, lstatSync } from 'node:fs';
import { constants } from 'node:os';
import {
  CTRL, CTRL_SIZE, DEFAULT_REGION_ALT, DEVICE_PATH, EV_USER, EVENT_REC, EVENT_REC_SIZE, EVENTS_FROM_NOW, EVENTS_FROM_OLDEST, HDR_KERNEL_HOLDER,
  HDR_LOCKED, HDR_OWNER_DIED, LOCK_OWNER_DIED, LOCK_STAGED, LOCK_TRY, LW_OWNER_MASK, UNLOCK_ABORT, UNLOCK_COMMIT,
  UNLOCK_PUBLISHED,
} from '../abi.js';
import type { Backend, DeviceInfo, EventsFrom, LockAttempt, RawEvent, RawSnapshot } from '../backend.js';
import {
  AbiMismatchError, DeviceGoneError, DeviceNotFoundError, KshmSystemError, LibraryNotFoundError, NotAKshmDeviceError, systemError,
  PermissionDeniedError,
} from '../errors.js';
import { LockWord, type LockWordDriver } from '../lockword.js';
import {
  KSHM_E_ABI, KSHM_E_MAGIC, libkshm, OPEN_NO_FASTPATH, OPEN_READONLY, type KshmInfoStruct, type KshmLayoutStruct,
  type LibKshm,
} from './libkshm.js';

const E = constants.errno;
const SEQ = CTRL.seq / 4;
const GEN_LO = CTRL.generation / 4;
/**
 * Snapshots are carved from slabs of this size (see #allocate).
 * @internal
 */
export const SLAB_BYTES = 1 << 20;
/** The smallest page size: #prefault writes a byte this often. */
const PAGE_TOUCH = 4096;
const FENCED_JS_SNAPSHOT = process.arch === 'x64' || process.arch === 'ia32';
/** EVENTS: records per kshm_events_next() call (and per batch handed over), and at most this many read ahead. */
const EVENTS_CALL = 256;
const EVENTS_QUEUE_MAX = 65536;
/** ...and at most this many handed over before the event loop gets a turn. */
const EVENTS_PER_TURN = 4096;

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

/**
 * This process's lock-word ids on each region (by regionKey): those of its
 * open writable backends. spinWhileHeld ends at once on a word naming one
 * of them (another device of this process): its release, or its grant once
 * the lock was handed to it, can only run on this (the main) thread, which
 * the spin holds.
 */
const ownIds = new Map<string, Set<number>>();

/**
 * How many ids ownIds holds.
 * @internal
 */
export const ownLockIds = (): number => [...ownIds.values()].reduce((n, ids) => n + ids.size, 0);

/**
 * Which region a descriptor is (ids are per region): a device node's
 * number, else the file (the stand-in's FIFO), else (no descriptor: a
 * stand-in region private to its opener) the path.
 */
function regionKey(fd: number, path: string): string {
  try {
    const st = fstatSync(fd);
    return st.rdev ? `${st.rdev}` : `${st.dev}:${st.ino}`;
  } catch {
    return path;
  }
}

/** Whether anything is at `path` (a path under a non-directory is nothing). */
function exists(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

/**
 * A watch that could not start: `onError(errno)` soon (never synchronously,
 * as a watch reports), unless the returned stop function ran first.
 */
function failSoon(onError: (errno: number) => void, errno: number): () => void {
  let stopped = false;
  queueMicrotask(() => { if (!stopped) onError(errno); });
  return () => { stopped = true; };
}

/** Opens the device, or throws the typed error that says what to do. */
export function openNativeBackend(path: string, readOnly: boolean): NativeBackend {
  let lib: LibKshm;
  try {
    lib = libkshm();
  } catch (e) {
    // A missing device says more (load the driver) than a missing library.
    if (e instanceof LibraryNotFoundError && !exists(path)) throw new DeviceNotFoundError(path);
    throw e;
  }
  const h = lib.open(path, readOnly ? OPEN_READONLY : OPEN_NO_FASTPATH);
  if (h > 0) return new NativeBackend(lib, h, path, readOnly);
  const errno = -h;
  // ENOTDIR: /dev/kshm/NAME while /dev/kshm is the default region's device (no named region exists).
  if (errno === E.ENOENT || errno === E.ENOTDIR) throw new DeviceNotFoundError(path);
  if (errno === E.EACCES || errno === E.EPERM) throw new PermissionDeniedError(path, errno);
  if (errno === KSHM_E_ABI) throw new AbiMismatchError(lib.lastError());
  if (errno === KSHM_E_MAGIC) {
    throw new NotAKshmDeviceError(path, lib.lastError());
  }
  if (errno === E.EISDIR) throw new NotAKshmDeviceError(path, 'a directory');
  // ENODEV: the region was destroyed between libkshm's open() and its mmap().
  if (errno === E.ENODEV) throw new DeviceGoneError(`opening ${path}`);
  throw new KshmSystemError(`opening ${path}`, errno, lib.strerror(h));
}

const toBig = (v: number | bigint): bigint => BigInt(v);
const toNum = (v: number | bigint): number => Number(v);

export class NativeBackend implements Backend {
  readonly size: number;
  readonly data: Uint8Array;
  readonly #lib: LibKshm;
  readonly #h: number;
  readonly #fd: number;
  readonly #ctrl32: Uint32Array;
  /** The lock-word protocol on the mapped control page. */
  readonly #word: LockWord;
  /** What only the driver does for a fast-path holder. */
  readonly #driver: LockWordDriver;
  /**
   * This process's id in the lock word (ids belong to an open file and a
   * process); 0 when it cannot write. Read once: a Node.js process cannot
   * fork and go on running JavaScript, so it never changes (a per-call
   * process.pid check cost 30 ns, a tenth of a transaction).
   */
  readonly #id: number;
  /** A writer's: where #id is in ownIds, and the ids of this process on this region (shared with its other backends there). */
  readonly #regionKey: string | undefined;
  readonly #ownIds: Set<number> | undefined;
  /** The lock is held, taken on the fast path: release it there too. */
  #heldFast = false;
  /** The lock is held staged (the ABI's STAGING): the data is written only by publish(). */
  #staged = false;
  readonly #polls = new Set<PollHandle>();
  /** EVENTS: the stop functions of this backend's readers. */
  readonly #readers = new Set<() => void>();
  #ringRecords: number | undefined;
  #slab = new ArrayBuffer(0);
  #slabUsed = 0;
  /** The size of the last snapshot carved from the slab (0: none yet). */
  #lastSize = 0;
  #closed = false;

  constructor(lib: LibKshm, handle: number, readonly path: string, readonly readOnly: boolean) {
    this.#lib = lib;
    this.#h = handle;
    const layout: Partial<KshmLayoutStruct> = {};
    const ret = lib.layout(handle, layout);
    if (ret < 0) throw new KshmSystemError('kshm_layout', -ret);
    const { data, data_size: dataSize = 0, ctrl, file_id: fileId = 0, fd = -1 } = layout;
    this.size = toNum(dataSize);
    this.#fd = fd;
    const ctrlView = koffi.view(ctrl, CTRL_SIZE);
    this.#ctrl32 = new Uint32Array(ctrlView);
    this.#word = new LockWord(this.#ctrl32);
    this.#driver = {
      unlockPublished: (commit) => -lib.unlock(handle, (commit ? UNLOCK_COMMIT : UNLOCK_ABORT) | UNLOCK_PUBLISHED),
      wake: () => { lib.wake(handle); },
    };
    this.#id = readOnly ? 0 : fileId;
    this.data = new Uint8Array(koffi.view(data, this.size));
    // Only a writer has an id (and spins): a reader costs no fstat here.
    if (this.#id !== 0) {
      const key = regionKey(fd, path);
      this.#ownIds = ownIds.get(key) ?? new Set();
      this.#ownIds.add(this.#id);
      ownIds.set(key, this.#ownIds);
      this.#regionKey = key;
    }
    open.add(this);
    installExitHook();
  }

  /** The generation at a grant; the mapped pages are gone after close(): never read them then. */
  #generation(): bigint {
    return this.#closed ? 0n : this.#word.generation();
  }

  surelyTaken(): boolean {
    return !this.#closed && (this.#word.word & LW_OWNER_MASK) !== 0;
  }

  spinWhileHeld(budgetNs: number, waitersBudgetNs = 0): boolean {
    return !this.#closed && this.#id !== 0 && this.#word.spinWhileHeld(budgetNs, waitersBudgetNs, this.#ownIds);
  }

  tryLock(fastPath = true, staged = false): LockAttempt {
    if (this.#closed) return { ok: false, errno: E.EBADF };
    if (fastPath && this.#id !== 0) {
      const taken = this.#word.tryLock(this.#id, staged);
      if (taken?.ok) {
        this.#heldFast = true;
        this.#staged = staged;
      }
      if (taken !== undefined) return taken;
    }
    const ret = staged ? this.#stagedTry() : this.#lib.trylock(this.#h);
    if (ret < 0) return { ok: false, errno: -ret };
    this.#staged = staged;
    return this.#word.grant((ret & LOCK_OWNER_DIED) !== 0);
  }

  /** kshm_lock(LOCK_TRY | LOCK_STAGED), its result folded into the return value as kshm_trylock's. */
  #stagedTry(): number {
    const out: [number] = [0];
    const ret = this.#lib.lock(this.#h, 0, LOCK_TRY | LOCK_STAGED, out);
    return ret < 0 ? ret : out[0];
  }

  lock(timeoutMs: number, done: (errno: number, ownerDied: boolean, generation: bigint) => void,
    staged = false): () => void {
    // The epoch is read now, so a cancel that comes before the worker even
    // starts still cancels this call.
    const epoch = this.#lib.cancelEpoch(this.#h);
    const out: [number] = [0];
    // No second spin on the worker: LockQueue spun on the word before it called this.
    this.#lib.lockEpochNoSpin.async(this.#h, epoch, timeoutMs, staged ? LOCK_STAGED : 0, out, (err, ret) => {
      // This may run after close() (the wait ended as the handle closed).
      if (err) done(E.EIO, false, 0n);
      else if (ret < 0) done(-ret, false, 0n);
      else {
        this.#staged = staged;
        done(0, (out[0] & LOCK_OWNER_DIED) !== 0, this.#generation());
      }
    });
    return () => {
      if (!this.#closed) this.#lib.cancel(this.#h);
    };
  }

  stage(): void {
    if (this.#closed) return;
    this.#word.leaveWrite();
    this.#staged = true;
  }

  publish(src: Uint8Array, ranges: readonly number[]): number {
    if (this.#closed) return E.EBADF;
    // The word names the holder on both paths: a lock taken back is not ours to write.
    const id = this.#id;
    if (id === 0 || (this.#word.word & LW_OWNER_MASK) !== id) return E.EPERM;
    this.#word.publish(this.data, src, ranges);
    this.#staged = false;
    if (this.#heldFast) {
      this.#heldFast = false;
      return this.#word.unlockStaged(this.#id, true, this.#driver);
    }
    return -this.#lib.unlock(this.#h, UNLOCK_COMMIT | UNLOCK_PUBLISHED);
  }

  unlock(commit: boolean): number {
    if (this.#closed) return E.EBADF;
    if (this.#staged) {
      if (commit) return this.publish(this.data, []);
      this.#staged = false;
      if (!this.#heldFast) return -this.#lib.unlock(this.#h, UNLOCK_ABORT);
      this.#heldFast = false;
      return this.#word.unlockStaged(this.#id, false, this.#driver);
    }
    if (this.#heldFast) {
      this.#heldFast = false;
      return this.#word.unlock(this.#id, commit, this.#driver);
    }
    return -this.#lib.unlock(this.#h, commit ? UNLOCK_COMMIT : UNLOCK_ABORT);
  }

  seq(): number {
    return this.#closed ? -1 : this.#word.seq;
  }

  snapshot(offset = 0, length = this.size - offset): RawSnapshot | undefined {
    if (this.#closed) return undefined;
    if (!FENCED_JS_SNAPSHOT) return this.#snapshotNative(offset, length);
    // From a slab even when small: a JS-heap typed array would be moved off the heap
    // when the Snapshot asks for its buffer (its DataView), which costs more.
    const bytes = this.#allocate(length);
    const seq = this.#copy(bytes, offset);
    return seq < 0 ? undefined : { bytes, generation: this.#copied, seq };
  }

  /**
   * The seqcount-validated copy itself, into memory the caller owns (the
   * snapshot above adds only the allocation): dst.length bytes from
   * `offset`. undefined: a writer stayed in.
   */
  copyInto(dst: Uint8Array, offset = 0): { generation: bigint; seq: number } | undefined {
    if (this.#closed) return undefined;
    const seq = this.#copy(dst, offset);
    return seq < 0 ? undefined : { generation: this.#copied, seq };
  }

  /** The generation of the last #copy. */
  #copied = 0n;
  /** The source of the last ranged copy, kept: a subarray per copy costs more than an 8-byte copy. */
  #rangeSrc: Uint8Array | undefined;

  /** Copies dst.length bytes from `offset`; returns the seq validated, or -1 (a writer stayed in). */
  #copy(dst: Uint8Array, offset: number): number {
    const ctrl = this.#ctrl32;
    let src = this.data;
    if (offset !== 0 || dst.length !== this.size) {
      const r = this.#rangeSrc;
      src = r !== undefined && r.byteOffset - this.data.byteOffset === offset && r.length === dst.length
        ? r : (this.#rangeSrc = this.data.subarray(offset, offset + dst.length));
    }
    for (let tries = 0; tries < 256; tries++) {
      const s1 = Atomics.load(ctrl, SEQ);
      if (s1 & 1) continue;
      dst.set(src);
      const lo = ctrl[GEN_LO] as number;
      const hi = ctrl[GEN_LO + 1] as number;
      if (Atomics.load(ctrl, SEQ) === s1) {
        this.#copied = this.#word.generation(lo, hi);
        return s1;
      }
    }
    return -1;
  }

  /**
   * Memory for one snapshot, carved from a 1 MiB slab: a fresh 4 KiB typed
   * array costs ~20x the copy itself (off-heap allocation); a slab lives
   * until every snapshot cut from it is garbage. The slab is not zeroed
   * (`new ArrayBuffer` would memset it: a quarter of a 4 KiB emission's
   * time, issue 20): #copy writes every byte of a view before anybody
   * sees it, and a failed copy's view is dropped.
   */
  #allocate(size: number): Uint8Array {
    if (this.#slabUsed + size > this.#slab.byteLength) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, size)).buffer;
      this.#slabUsed = 0;
    }
    const view = new Uint8Array(this.#slab, this.#slabUsed, size);
    // 8-byte aligned starts: the next snapshot's bytes never share a word with these.
    this.#slabUsed += (size + 7) & ~7;
    this.#lastSize = size;
    return view;
  }

  /**
   * Touches the pages the next snapshot (of the size of the last one) will
   * be copied into (a new slab if this one is too full): called once a
   * commit's subscribers have their snapshot, it takes the page faults of
   * fresh slab memory (about one per 4 KiB snapshot) off the next commit's
   * way to them (issue 20, P3).
   */
  #prefault(): void {
    const size = this.#lastSize;
    if (this.#closed || size === 0) return;
    if (this.#slabUsed + size > this.#slab.byteLength) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, size)).buffer;
      this.#slabUsed = 0;
    }
    const bytes = new Uint8Array(this.#slab, this.#slabUsed, size);
    // The next snapshot overwrites every byte of it: what is written here is never seen.
    for (let at = 0; at < size; at += PAGE_TOUCH) bytes[at] = 0;
    bytes[size - 1] = 0;
  }

  #snapshotNative(offset: number, length: number): RawSnapshot | undefined {
    const bytes = new Uint8Array(length);
    const gen: [number | bigint] = [0];
    const seq = this.seq();
    const ret = this.#lib.snapshot(this.#h, bytes, offset, length, gen, 0);
    return ret === 0 ? { bytes, generation: toBig(gen[0]), seq } : undefined;
  }

  /** Whether this device's region was destroyed (INFO says ENODEV, as every call then does). */
  #destroyed(): boolean {
    return this.#lib.info(this.#h, {}) === -E.ENODEV;
  }

  watchCommits(onCommit: () => void, onError: (errno: number) => void): () => void {
    // Nothing to poll (the benchmarks' private stand-in region has no fd):
    // an error, since koffi.node.poll on -1 would abort the process.
    if (this.#fd < 0) return failSoon(onError, E.EBADF);
    // Destroyed already: a new subscriber gets DeviceGoneError, not the last contents first.
    if (this.#destroyed()) {
      onError(E.ENODEV);
      return () => {};
    }
    const poll = koffi.node.poll as unknown as PollFn;
    const handle = poll(this.#fd, { readable: true }, (status) => {
      if (status < 0) {
        // A destroyed region polls as an error (EPOLLERR | EPOLLHUP: libuv
        // says EBADF), and its read() says why: ENODEV.
        onError(this.#lib.consume(this.#h, null) === -E.ENODEV ? E.ENODEV : -status);
        return;
      }
      // A commit: its snapshot goes to the subscribers first (the latency of
      // the wake-up is theirs), then the wake-up is consumed (read() marks
      // the generation seen, or the fd stays readable). That read may also
      // consume the wake-up of a commit made meanwhile: if the seqcount
      // moved since, look again now.
      const seq = this.seq();
      onCommit();
      if (this.#closed) return;
      if (this.#lib.consume(this.#h, null) === -E.ENODEV) {
        onError(E.ENODEV);
        return;
      }
      if (this.#polls.has(handle) && this.seq() !== seq) onCommit();
      this.#prefault();
    });
    this.#polls.add(handle);
    return () => {
      if (this.#polls.delete(handle)) handle.close();
    };
  }

  /**
   * EVENTS: each reader is an open file of its own (read-only: its own
   * position in the driver, for poll), read through libkshm's reader (the
   * ring protocol in C: one call per 256 records, no syscall while records
   * wait, one ioctl when caught up: one FFI call per wake-up normally) and
   * woken by koffi.node.poll on its fd, which KSHM_EVENTS_POLLIN makes
   * readable while records wait. Batches of up to 256 records go to
   * `onBatch`; between two, the ring is read again (see the queue below).
   */
  events(from: EventsFrom, onBatch: (batch: RawEvent[]) => void, onError: (errno: number) => void): () => void {
    const lib = this.#lib;
    const fail = (errno: number): () => void => failSoon(onError, errno);
    if (this.#closed) return fail(E.EBADF);
    // The default region's node moves (REGIONS in the uapi header): /dev/kshm
    // finds it wherever it is now (libkshm's kshm_open), /dev/kshm/default may not.
    const h = lib.open(this.path === DEFAULT_REGION_ALT ? DEVICE_PATH : this.path, OPEN_READONLY);
    // The reader opens the region by its path: once this device's region is
    // destroyed the path is gone or names a new region, so ENODEV then, as
    // every call gives (checked after the open: a region alive then is the
    // one its path named).
    if (this.#destroyed()) {
      if (h > 0) lib.close(h);
      return fail(E.ENODEV);
    }
    if (h < 0) return fail(-h);
    let ret = lib.eventsStart(h, from === 'oldest' ? EVENTS_FROM_OLDEST : EVENTS_FROM_NOW);
    const layout: Partial<KshmLayoutStruct> = {};
    if (ret === 0) ret = lib.layout(h, layout);
    if (ret < 0) {
      lib.close(h);
      return fail(-ret);
    }
    const buf = new Uint8Array(EVENTS_CALL * EVENT_REC_SIZE);
    let stopped = false;
    /** The reader's end (an errno): reported once every record read is handed over. */
    let ended: number | undefined;
    let handle: PollHandle | undefined;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.#readers.delete(stop);
      if (resume) clearImmediate(resume);
      handle?.close();
      lib.close(h);
    };
    /**
     * Records read from the ring, not yet handed over. Reading is cheap next
     * to what subscribers do with a record, so the ring is emptied into it
     * again every EVENTS_CALL records handed over: a subscriber slower than
     * the producers for a while (a cold JIT, a burst) is buffered here, up
     * to EVENTS_QUEUE_MAX records, before the ring overruns (and then
     * lostBefore counts it). A subscriber that blocks the event loop reads
     * nothing meanwhile: what it misses is lost and counted.
     */
    let queue: RawEvent[] = [];
    let next = 0; // queue[next] is the next record to hand over
    /** Reads what the ring holds into the queue (an error: `ended`). false: the reader was stopped. */
    const fill = (): boolean => {
      if (next > EVENTS_CALL * 16) {
        queue = queue.slice(next);
        next = 0;
      }
      while (!stopped && queue.length - next < EVENTS_QUEUE_MAX) {
        const n = lib.eventsNext(h, buf, EVENTS_CALL, 0);
        if (n < 0) {
          ended ??= -n;
          break;
        }
        // One copy per call; each record's bytes are a view into it (an
        // ArrayBuffer per record costs ~5x the whole decode).
        const copy = buf.slice(0, n * EVENT_REC_SIZE);
        const view = new DataView(copy.buffer);
        for (let i = 0; i < n; i++) {
          const at = i * EVENT_REC_SIZE;
          const len = view.getUint16(at + EVENT_REC.len, true);
          queue.push({
            seq: view.getBigUint64(at + EVENT_REC.seq, true),
            type: view.getUint32(at + EVENT_REC.type, true),
            timeNs: view.getBigUint64(at + EVENT_REC.time_ns, true),
            lostBefore: view.getUint32(at + EVENT_REC.lost_before, true)
              + view.getUint32(at + EVENT_REC.lost_before + 4, true) * 2 ** 32,
            fromUser: (view.getUint16(at + EVENT_REC.flags, true) & EV_USER) !== 0,
            bytes: copy.subarray(at + EVENT_REC.data, at + EVENT_REC.data + len),
          });
        }
        // Fewer than asked: caught up, and libkshm told the driver our position (poll waits for the next).
        if (n < EVENTS_CALL) break;
      }
      return !stopped;
    };
    /**
     * Hands over what is queued, reading the ring again between batches, for
     * at most EVENTS_PER_TURN records: then it lets the event loop run and
     * goes on from setImmediate (the fd no longer polls readable for records
     * already read into the queue).
     */
    let resume: NodeJS.Immediate | undefined;
    const drain = (): void => {
      resume = undefined;
      let handed = 0;
      while (fill() && next < queue.length) {
        if (handed >= EVENTS_PER_TURN) {
          resume ??= setImmediate(drain);
          return;
        }
        const batch = queue.slice(next, next + EVENTS_CALL);
        next += batch.length;
        handed += batch.length;
        onBatch(batch);
      }
      if (next >= queue.length) {
        queue = [];
        next = 0;
        if (ended !== undefined && !stopped) {
          stop();
          onError(ended);
        }
      }
    };
    const poll = koffi.node.poll as unknown as PollFn;
    handle = poll(layout.fd ?? -1, { readable: true }, (status) => {
      if (stopped) return;
      if (status < 0) {
        // A destroyed region polls as an error (EPOLLERR | EPOLLHUP: libuv
        // says EBADF and stops polling): the records it still holds are
        // handed over (the mapping stays), then the stream ends with ENODEV.
        ended ??= lib.info(h, {}) === -E.ENODEV ? E.ENODEV : -status;
      }
      if (!resume) drain(); // else a turn is already scheduled
    });
    this.#readers.add(stop);
    return stop;
  }

  emit(type: number, bytes: Uint8Array): { errno: number; seq: bigint } {
    if (this.#closed) return { errno: E.EBADF, seq: 0n };
    const seq: [number | bigint] = [0];
    const ret = this.#lib.emit(this.#h, type, bytes, bytes.length, seq);
    return ret < 0 ? { errno: -ret, seq: 0n } : { errno: 0, seq: toBig(seq[0]) };
  }

  /** Records in the ring (0: none), from the mapped ring's header. */
  #ring(): number {
    if (this.#ringRecords === undefined) {
      const ring: [unknown] = [null];
      const size: [number | bigint] = [0];
      this.#ringRecords = this.#lib.eventsRing(this.#h, ring, size) === 0
        ? new Uint32Array(koffi.view(ring[0], 16))[2] ?? 0
        : 0;
    }
    return this.#ringRecords;
  }

  info(): DeviceInfo {
    const out: Partial<KshmInfoStruct> = {};
    const ret = this.#lib.info(this.#h, out);
    if (ret < 0) throw systemError('INFO', -ret);
    const i = out as KshmInfoStruct;
    const flags = i.flags;
    return {
      abiVersion: i.abi_version,
      pages: i.pages,
      pageSize: i.page_size,
      size: this.size,
      generation: toBig(i.generation),
      holderPid: i.holder_pid,
      locked: (flags & HDR_LOCKED) !== 0,
      kernelHolds: (flags & HDR_KERNEL_HOLDER) !== 0,
      ownerDied: (flags & HDR_OWNER_DIED) !== 0,
      waiters: i.waiters,
      tickMs: i.tick_ms,
      counters: {
        locksGranted: toNum(i.locks_granted),
        locksContended: toNum(i.locks_contended),
        lockTimeouts: toNum(i.lock_timeouts),
        lockCancels: toNum(i.lock_cancels),
        ownerDied: toNum(i.owner_died),
        commits: toNum(i.commits),
        aborts: toNum(i.aborts),
        kernelWrites: toNum(i.kernel_writes),
        ticks: toNum(i.ticks),
        ticksSkipped: toNum(i.ticks_skipped),
        lockReclaims: toNum(i.lock_reclaims),
      },
      ...(this.#ring() ? {
        ring: { records: this.#ring(), events: toNum(i.events), wakeups: toNum(i.event_wakeups) },
      } : {}),
    };
  }

  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number,
    done: (errno: number, generation: bigint) => void): void {
    const out: [number | bigint] = [0];
    this.#lib.kwrite.async(this.#h, offset, bytes, bytes.length, timeoutMs, out, (err, ret) => {
      if (err) done(E.EIO, 0n);
      else if (ret < 0) done(-ret, 0n);
      else done(0, toBig(out[0]));
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    open.delete(this);
    if (this.#ownIds?.delete(this.#id) && this.#ownIds.size === 0) ownIds.delete(this.#regionKey as string);
    // Stop epoll on the fd before the fd goes away.
    for (const p of this.#polls) p.close();
    this.#polls.clear();
    for (const stop of [...this.#readers]) stop();
    // Cancels and waits out this handle's blocked calls, then unmaps: the
    // views above must not be touched after this (KshmDevice guards them).
    this.#lib.close(this.#h);
  }
}
