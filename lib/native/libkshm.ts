// SPDX-License-Identifier: MIT
/**
 * koffi bindings of libkshm (native-shim/kshm.h), loaded once, lazily, by
 * absolute path so that the package works from any working directory.
 *
 * Which library: `KSHM_LIBRARY` when set (another build, e.g. the benchmarks'
 * stand-in over anonymous memory, or one built for a platform with no
 * prebuilt library); else native-shim/libkshm.so when it was built here (a
 * clone: `npm install` builds it); else the prebuilt
 * native-shim/prebuilds/linux-<arch>/libkshm.so the npm package ships for
 * glibc Linux on x64 and arm64.
 * @module
 */
import koffi from 'koffi';
import type * as K from 'koffi';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inSourceTree, LibraryNotFoundError } from '../errors.js';

/** The architectures the package ships a prebuilt library for (process.arch names). */
export const PREBUILT_ARCHES: readonly string[] = ['x64', 'arm64'];

const shimDir = (): string =>
  // dist/lib/native/libkshm.js -> <root>/native-shim/
  fileURLToPath(new URL('../../../native-shim/', import.meta.url));

/** The C library the running Node uses: 'glibc', 'musl' or another name. */
function libc(): string {
  if (process.platform !== 'linux') return process.platform;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** What to do when no library fits: build it from the kshm sources, point KSHM_LIBRARY at it. */
function buildAdvice(): string {
  return inSourceTree()
    ? 'build it with "make -C native-shim" (npm install does this)'
    : 'build libkshm.so from the kshm sources ("make -C native-shim libkshm.so" in a clone of the kshm '
      + 'repository; needs gcc) and set KSHM_LIBRARY to its path';
}

/**
 * Where libkshm.so is for this process. Throws {@link LibraryNotFoundError}
 * (saying what to do) when no library fits.
 */
export function libraryPath(): string {
  const fromEnv = process.env['KSHM_LIBRARY'];
  if (fromEnv) {
    if (!existsSync(fromEnv)) {
      throw new LibraryNotFoundError(`KSHM_LIBRARY names ${fromEnv}, which does not exist: `
        + 'point it at a libkshm.so, or unset it to use the one kshm ships');
    }
    return fromEnv;
  }
  const local = `${shimDir()}libkshm.so`;
  if (existsSync(local)) return local;
  const platform = `${process.platform}-${process.arch}`;
  const prebuilt = `${shimDir()}prebuilds/${platform}/libkshm.so`;
  const c = libc();
  if (process.platform === 'linux' && PREBUILT_ARCHES.includes(process.arch) && c === 'glibc'
    && existsSync(prebuilt)) {
    return prebuilt;
  }
  const why = process.platform !== 'linux'
    ? `kshm needs Linux (this is ${process.platform}; kshm/testing works everywhere)`
    : !PREBUILT_ARCHES.includes(process.arch) || c !== 'glibc'
      ? `kshm ships libkshm.so for glibc Linux on ${PREBUILT_ARCHES.join(' and ')}, not for ${platform} (${c})`
      : `${prebuilt} is missing from this copy of kshm`;
  throw new LibraryNotFoundError(
    `no libkshm.so for this machine: ${why}${process.platform === 'linux' ? `: ${buildAdvice()}` : ''}`);
}

export const KSHM_E_ABI = 4096;
export const KSHM_E_MAGIC = 4097;
export const OPEN_READONLY = 1;
/** libkshm's calls always go to the driver: the fast path runs in JS, on the mapped word. */
export const OPEN_NO_FASTPATH = 2;

/** A u64 from koffi: a number when it is safe, else a bigint. */
export type U64 = number | bigint;

/** struct kshm_info (uapi), as koffi decodes it. */
export interface KshmInfoStruct {
  abi_version: number; pages: number; page_size: number; flags: number; generation: U64;
  holder_pid: number; waiters: number; tick_ms: number; features: number;
  locks_granted: U64; locks_contended: U64; lock_timeouts: U64; lock_cancels: U64; owner_died: U64;
  commits: U64; aborts: U64; kernel_writes: U64; ticks: U64; ticks_skipped: U64;
  file_id: number; lock_word: number; lock_reclaims: U64; events: U64; event_wakeups: U64; reserved: U64[];
}

/** struct kshm_layout (kshm.h): where a handle's mappings are. */
export interface KshmLayoutStruct {
  header: unknown; data: unknown; data_size: U64; ctrl: unknown; file_id: number; fd: number;
}

/** A call koffi can also run on the libuv pool; the callback gets the C return value. */
type WithAsync<A extends unknown[]> = ((...args: A) => number) & {
  async(...args: [...A, (err: unknown, ret: number) => void]): void;
};

/** The koffi definitions of libkshm's structs (spec/host/abi.spec.ts checks them against C). */
export const STRUCTS = {
  kshm_info: koffi.struct('kshm_info', {
    abi_version: 'uint32_t', pages: 'uint32_t', page_size: 'uint32_t', flags: 'uint32_t',
    generation: 'uint64_t', holder_pid: 'int32_t', waiters: 'uint32_t', tick_ms: 'uint32_t',
    features: 'uint32_t', locks_granted: 'uint64_t', locks_contended: 'uint64_t',
    lock_timeouts: 'uint64_t', lock_cancels: 'uint64_t', owner_died: 'uint64_t',
    commits: 'uint64_t', aborts: 'uint64_t', kernel_writes: 'uint64_t', ticks: 'uint64_t',
    ticks_skipped: 'uint64_t', file_id: 'uint32_t', lock_word: 'uint32_t', lock_reclaims: 'uint64_t',
    events: 'uint64_t', event_wakeups: 'uint64_t',
    reserved: koffi.array('uint64_t', 2),
  }),
  kshm_layout: koffi.struct('kshm_layout', {
    header: 'const void *', data: 'void *', data_size: 'uint64_t', ctrl: 'void *',
    file_id: 'uint32_t', fd: 'int32_t',
  }),
};

/** libkshm's functions, typed (kshm.h documents them). */
export interface LibKshm {
  open(path: string, flags: number): number;
  close(h: number): number;
  cancelEpoch(h: number): number;
  /** kshm_lock_epoch_nospin: the caller spun on the lock word already (LockQueue). */
  lockEpochNoSpin: WithAsync<[h: number, epoch: number, timeoutMs: number, flags: number, result: [number]]>;
  /** kshm_lock: here only with LOCK_TRY (a staged try); kshm_trylock is the plain one. */
  lock(h: number, timeoutMs: number, flags: number, result: [number]): number;
  trylock(h: number): number;
  unlock(h: number, flags: number): number;
  wake(h: number): number;
  cancel(h: number): number;
  snapshot(h: number, dst: Uint8Array, offset: number, len: number, generation: [U64], maxWaitUs: number): number;
  /** The generation goes unread (null): the control page has it. */
  consume(h: number, generation: null): number;
  info(h: number, info: Partial<KshmInfoStruct>): number;
  kwrite: WithAsync<[h: number, offset: number, src: Uint8Array, len: number, timeoutMs: number, generation: [U64]]>;
  layout(h: number, layout: Partial<KshmLayoutStruct>): number;
  strerror(err: number): string;
  lastError(): string;
  /** EVENTS (kshm.h): the handle's reader, emits, the mapped ring. */
  eventsStart(h: number, from: number): number;
  /** Fills `recs` with up to `max` struct kshm_event_rec (EVENT_REC_SIZE bytes each). */
  eventsNext(h: number, recs: Uint8Array, max: number, timeoutMs: number): number;
  emit(h: number, type: number, data: Uint8Array, len: number, seq: [U64]): number;
  eventsRing(h: number, ring: [unknown], size: [U64]): number;
}

let loaded: LibKshm | undefined;

/**
 * The bound functions. Throws {@link LibraryNotFoundError} (saying what to
 * do) when no library fits this machine or the library does not load.
 */
export function libkshm(): LibKshm {
  if (loaded) return loaded;
  const path = libraryPath();
  let lib: K.LibraryHandle;
  try {
    lib = koffi.load(path);
  } catch (e) {
    throw new LibraryNotFoundError(`${path} does not load on this machine (${(e as Error).message}): `
      + `${process.env['KSHM_LIBRARY'] ? 'point KSHM_LIBRARY at a libkshm.so built for it' : buildAdvice()}`,
    { cause: e });
  }
  // The one cast from koffi's untyped functions to the declarations above.
  const fn = <T>(decl: string): T => lib.func(decl) as unknown as T;
  loaded = {
    open: fn('int32_t kshm_open(const char *path, uint32_t flags)'),
    close: fn('int kshm_close(int32_t h)'),
    cancelEpoch: fn('int64_t kshm_cancel_epoch(int32_t h)'),
    lockEpochNoSpin: fn('int kshm_lock_epoch_nospin(int32_t h, int64_t epoch, uint32_t timeout_ms, uint32_t flags, _Out_ uint32_t *result)'),
    lock: fn('int kshm_lock(int32_t h, uint32_t timeout_ms, uint32_t flags, _Out_ uint32_t *result)'),
    trylock: fn('int kshm_trylock(int32_t h)'),
    unlock: fn('int kshm_unlock(int32_t h, uint32_t flags)'),
    wake: fn('int kshm_wake(int32_t h)'),
    cancel: fn('int kshm_cancel(int32_t h)'),
    snapshot: fn('int kshm_snapshot_wait(int32_t h, _Out_ uint8_t *dst, uint64_t offset, uint64_t len, _Out_ uint64_t *generation, uint32_t max_wait_us)'),
    consume: fn('int kshm_consume(int32_t h, void *generation)'),
    info: fn('int kshm_info(int32_t h, _Out_ kshm_info *info)'),
    kwrite: fn('int kshm_kwrite(int32_t h, uint64_t offset, const uint8_t *src, uint32_t len, uint32_t timeout_ms, _Out_ uint64_t *generation)'),
    layout: fn('int kshm_layout(int32_t h, _Out_ kshm_layout *layout)'),
    strerror: fn('const char *kshm_strerror(int err)'),
    lastError: fn('const char *kshm_last_error(void)'),
    eventsStart: fn('int kshm_events_start(int32_t h, uint32_t from)'),
    eventsNext: fn('int kshm_events_next(int32_t h, _Out_ uint8_t *recs, uint32_t max, int32_t timeout_ms)'),
    emit: fn('int kshm_emit(int32_t h, uint32_t type, const uint8_t *data, uint32_t len, _Out_ uint64_t *seq)'),
    eventsRing: fn('int kshm_events_ring(int32_t h, _Out_ const void **ring, _Out_ uint64_t *size)'),
  };
  return loaded;
}
