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
export const KSHM_E_TOO_MANY = 4098;
export const OPEN_READONLY = 1;
/** libkshm's calls always go to the driver: the fast path runs in JS, on the mapped word. */
export const OPEN_NO_FASTPATH = 2;

type Fn = ReturnType<K.LibraryHandle['func']>;

export interface LibKshm {
  open: Fn; close: Fn; cancelEpoch: Fn; lockEpoch: Fn; trylock: Fn; try: Fn; unlock: Fn; cancel: Fn;
  snapshot: Fn; consume: Fn; fd: Fn; info: Fn; kwrite: Fn; headerPtr: Fn; dataPtr: Fn;
  dataSize: Fn; strerror: Fn; lastError: Fn; abiVersion: Fn; ctrlPtr: Fn; fileId: Fn; wake: Fn;
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
  koffi.struct('kshm_info', {
    abi_version: 'uint32_t', pages: 'uint32_t', page_size: 'uint32_t', flags: 'uint32_t',
    generation: 'uint64_t', holder_pid: 'int32_t', waiters: 'uint32_t', tick_ms: 'uint32_t',
    features: 'uint32_t', locks_granted: 'uint64_t', locks_contended: 'uint64_t',
    lock_timeouts: 'uint64_t', lock_cancels: 'uint64_t', owner_died: 'uint64_t',
    commits: 'uint64_t', aborts: 'uint64_t', kernel_writes: 'uint64_t', ticks: 'uint64_t',
    ticks_skipped: 'uint64_t', file_id: 'uint32_t', lock_word: 'uint32_t',
    reserved: koffi.array('uint64_t', 5),
  });
  loaded = {
    open: lib.func('int32_t kshm_open(const char *path, uint32_t flags)'),
    close: lib.func('int kshm_close(int32_t h)'),
    cancelEpoch: lib.func('int64_t kshm_cancel_epoch(int32_t h)'),
    lockEpoch: lib.func('int kshm_lock_epoch(int32_t h, int64_t epoch, uint32_t timeout_ms, uint32_t flags, _Out_ uint32_t *result)'),
    trylock: lib.func('int kshm_trylock(int32_t h, _Out_ uint32_t *result)'),
    try: lib.func('int kshm_try(int32_t h)'),
    unlock: lib.func('int kshm_unlock(int32_t h, uint32_t flags)'),
    cancel: lib.func('int kshm_cancel(int32_t h)'),
    snapshot: lib.func('int kshm_snapshot(int32_t h, _Out_ uint8_t *dst, uint64_t offset, uint64_t len, _Out_ uint64_t *generation, uint32_t max_wait_us)'),
    // The generation is read from the mapped control page; NULL skips the out-parameter marshalling.
    consume: lib.func('int kshm_consume(int32_t h, void *generation)'),
    fd: lib.func('int kshm_fd(int32_t h)'),
    info: lib.func('int kshm_info(int32_t h, _Out_ kshm_info *info)'),
    kwrite: lib.func('int kshm_kwrite(int32_t h, uint64_t offset, const uint8_t *src, uint32_t len, uint32_t timeout_ms, _Out_ uint64_t *generation)'),
    headerPtr: lib.func('const void *kshm_header_ptr(int32_t h)'),
    dataPtr: lib.func('void *kshm_data_ptr(int32_t h)'),
    ctrlPtr: lib.func('void *kshm_ctrl_ptr(int32_t h)'),
    fileId: lib.func('uint32_t kshm_file_id(int32_t h)'),
    wake: lib.func('int kshm_wake(int32_t h)'),
    dataSize: lib.func('uint64_t kshm_data_size(int32_t h)'),
    strerror: lib.func('const char *kshm_strerror(int err)'),
    lastError: lib.func('const char *kshm_last_error(void)'),
    abiVersion: lib.func('uint32_t kshm_abi_version(void)'),
  };
  return loaded;
}
