/**
 * koffi bindings of libkshm (native-shim/kshm.h), loaded once, lazily, by
 * absolute path so that the package works from any working directory.
 * `KSHM_LIBRARY` names another build of the library (the benchmarks use a
 * stand-in build over anonymous memory).
 * @module
 */
import koffi from 'koffi';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where libkshm.so is: native-shim/ at the package root. */
export function libraryPath(): string {
  const fromEnv = process.env['KSHM_LIBRARY'];
  if (fromEnv) return fromEnv;
  // dist/lib/native/libkshm.js -> <root>/native-shim/libkshm.so
  return fileURLToPath(new URL('../../../native-shim/libkshm.so', import.meta.url));
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
  file_id: number; lock_word: number; reserved: U64[];
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
    ticks_skipped: 'uint64_t', file_id: 'uint32_t', lock_word: 'uint32_t',
    reserved: koffi.array('uint64_t', 5),
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
  lockEpoch: WithAsync<[h: number, epoch: number, timeoutMs: number, flags: number, result: [number]]>;
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
}

let loaded: LibKshm | undefined;

/** The bound functions; throws an Error saying how to build the library when it is missing. */
export function libkshm(): LibKshm {
  if (loaded) return loaded;
  const path = libraryPath();
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it with "make -C native-shim" (npm install does this)`);
  }
  const lib = koffi.load(path);
  // The one cast from koffi's untyped functions to the declarations above.
  const fn = <T>(decl: string): T => lib.func(decl) as unknown as T;
  loaded = {
    open: fn('int32_t kshm_open(const char *path, uint32_t flags)'),
    close: fn('int kshm_close(int32_t h)'),
    cancelEpoch: fn('int64_t kshm_cancel_epoch(int32_t h)'),
    lockEpoch: fn('int kshm_lock_epoch(int32_t h, int64_t epoch, uint32_t timeout_ms, uint32_t flags, _Out_ uint32_t *result)'),
    trylock: fn('int kshm_trylock(int32_t h)'),
    unlock: fn('int kshm_unlock(int32_t h, uint32_t flags)'),
    wake: fn('int kshm_wake(int32_t h)'),
    cancel: fn('int kshm_cancel(int32_t h)'),
    snapshot: fn('int kshm_snapshot(int32_t h, _Out_ uint8_t *dst, uint64_t offset, uint64_t len, _Out_ uint64_t *generation, uint32_t max_wait_us)'),
    consume: fn('int kshm_consume(int32_t h, void *generation)'),
    info: fn('int kshm_info(int32_t h, _Out_ kshm_info *info)'),
    kwrite: fn('int kshm_kwrite(int32_t h, uint64_t offset, const uint8_t *src, uint32_t len, uint32_t timeout_ms, _Out_ uint64_t *generation)'),
    layout: fn('int kshm_layout(int32_t h, _Out_ kshm_layout *layout)'),
    strerror: fn('const char *kshm_strerror(int err)'),
    lastError: fn('const char *kshm_last_error(void)'),
  };
  return loaded;
}
