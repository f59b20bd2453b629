// SPDX-License-Identifier: MIT
/**
 * Typed errors of kshm. Every error the library raises is a {@link KshmError}
 * with a stable `code`, so apps can branch on `instanceof` or on `code`.
 *
 * @example
 * ```ts
 * device.transaction(fn, { timeoutMs: 50 }).subscribe({
 *   error: (e) => { if (e instanceof LockTimeoutError) retryLater(); else throw e; },
 * });
 * ```
 * @module
 */
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const E = constants.errno;

/**
 * Whether kshm runs from its own source tree (a clone, where the harness can
 * boot a test guest), not from an app's node_modules: only then do messages
 * point at `npm run vm` and the repository's driver/ folder.
 * @internal
 */
export function inSourceTree(): boolean {
  // dist/lib/errors.js (or lib/errors.ts) -> <root>/harness/vm.mjs
  return existsSync(fileURLToPath(new URL('../../harness/vm.mjs', import.meta.url)));
}

/** Base class of every kshm error. */
export class KshmError extends Error {
  /** A stable identifier, e.g. `'KSHM_TIMEOUT'`. */
  readonly code: string;
  /** The errno behind the error, when it came from the driver or libkshm. */
  readonly errno: number | undefined;

  constructor(code: string, message: string, options?: { errno?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.errno = options?.errno;
  }
}

/**
 * There is no kshm device at the path: the module is not loaded, or this is
 * not a machine where it can be.
 */
export class DeviceNotFoundError extends KshmError {
  constructor(readonly path: string) {
    super('KSHM_NO_DEVICE', inSourceTree()
      ? `${path} does not exist: load the driver (make -C driver && sudo insmod driver/kshm.ko, `
        + 'or sudo modprobe kshm once installed with dkms), or run inside a test guest: '
        + 'npm run vm -- node your-app.js'
      : `${path} does not exist: the kshm kernel driver is not loaded. Install it with DKMS and `
        + 'run "sudo modprobe kshm" (see "Loading the driver" in the kshm README)', { errno: E.ENOENT });
  }
}

/**
 * No libkshm.so fits this machine: kshm ships prebuilt ones for glibc Linux on
 * x64 and arm64 only, `KSHM_LIBRARY` names a file that is missing, or the
 * library does not load (e.g. a C library too old). The message says what to
 * do. `openDevice` reports {@link DeviceNotFoundError} instead when the device
 * does not exist either. kshm/testing never needs the library.
 */
export class LibraryNotFoundError extends KshmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KSHM_NO_LIBRARY', message, options);
  }
}

/** The device exists but this user may not open it. */
export class PermissionDeniedError extends KshmError {
  constructor(readonly path: string, errno: number) {
    super('KSHM_PERMISSION',
      `permission denied opening ${path}: join the kshm group (sudo usermod -aG kshm $USER, `
      + `then log in again) and install ${inSourceTree() ? 'driver/99-kshm.rules' : "the driver's udev rule "
        + '(99-kshm.rules, see the kshm README)'} into /etc/udev/rules.d`, { errno });
  }
}

/** The driver speaks another ABI version than this library. */
export class AbiMismatchError extends KshmError {
  constructor(message: string) {
    super('KSHM_ABI', message);
  }
}

/** The path is not a kshm device (another file, or an inconsistent header). */
export class NotAKshmDeviceError extends KshmError {
  constructor(readonly path: string, detail: string) {
    super('KSHM_NOT_A_DEVICE', `${path} is not a kshm device: ${detail}`);
  }
}

/**
 * The region behind an open device was destroyed (its creator removed it, or
 * the module that made it was unloaded): every call fails with ENODEV and
 * snapshot and event streams error with this. Close the device; a region of the same
 * name created later is a new one (open it again).
 */
export class DeviceGoneError extends KshmError {
  constructor(readonly operation: string) {
    super('KSHM_DEVICE_GONE', `${operation} failed: the kshm region was destroyed (ENODEV): close the device`,
      { errno: E.ENODEV });
  }
}

/**
 * A positive errno from a device call as a typed error:
 * {@link DeviceGoneError} for ENODEV, else a {@link KshmSystemError}.
 */
export function systemError(operation: string, errno: number): KshmError {
  return errno === E.ENODEV ? new DeviceGoneError(operation) : new KshmSystemError(operation, errno);
}

/** The device was closed: nothing can be done with it any more. */
export class DeviceClosedError extends KshmError {
  constructor() {
    super('KSHM_CLOSED', 'the kshm device is closed');
  }
}

/** The lock was not granted within `timeoutMs`. */
export class LockTimeoutError extends KshmError {
  constructor(readonly timeoutMs: number) {
    super('KSHM_TIMEOUT', `the kshm lock was not granted within ${timeoutMs} ms`, { errno: E.ETIMEDOUT });
  }
}

/** The wait for the lock was cancelled (an AbortSignal, or the device closing). */
export class LockCancelledError extends KshmError {
  constructor(reason?: unknown) {
    super('KSHM_CANCELLED', 'the wait for the kshm lock was cancelled',
      { errno: E.ECANCELED, cause: reason });
  }
}

/** The device was opened read-only: no lock, no writes. */
export class ReadOnlyDeviceError extends KshmError {
  constructor() {
    super('KSHM_READ_ONLY', 'the kshm device was opened read-only: it cannot take the lock or write',
      { errno: E.EBADF });
  }
}

/**
 * This device already holds the lock that the call would wait for: a
 * `kernelWrite` from a device whose own lease (or transaction) holds the
 * lock fails at once with this error instead of queueing behind itself.
 *
 * @example
 * ```ts
 * device.kernelWrite(0, [1]).subscribe({
 *   error: (e) => { if (e instanceof LockDeadlockError) console.log('commit or abort the lease first'); },
 * });
 * ```
 */
export class LockDeadlockError extends KshmError {
  constructor(operation: string) {
    super('KSHM_DEADLOCK', `${operation} would wait forever: this device holds the lock it needs`,
      { errno: E.EDEADLK });
  }
}

/**
 * @deprecated The former name of {@link LockDeadlockError} (the same class:
 * `instanceof` works with either name).
 */
export const DeadlockError = LockDeadlockError;
/** @deprecated The former name of {@link LockDeadlockError}. */
export type DeadlockError = LockDeadlockError;

/**
 * `timeoutMs: 0` ("try once") found the lock taken: nothing waited.
 *
 * @example
 * ```ts
 * device.transaction(fn, { timeoutMs: 0 }).subscribe({
 *   error: (e) => { if (e instanceof LockBusyError) console.log('busy, skipped'); },
 * });
 * ```
 */
export class LockBusyError extends KshmError {
  constructor() {
    super('KSHM_BUSY', 'the kshm lock is taken (timeoutMs: 0 tries once and does not wait)', { errno: E.EBUSY });
  }
}

/** A page or lease was used after its transaction or lease ended. */
export class LeaseEndedError extends KshmError {
  constructor() {
    super('KSHM_LEASE_ENDED', 'this page belongs to a transaction or lease that has ended');
  }
}

/** Any other failure reported by the driver or libkshm. */
export class KshmSystemError extends KshmError {
  constructor(operation: string, errno: number, detail?: string) {
    super('KSHM_SYSTEM', `${operation} failed: ${detail ?? errnoName(errno)}`, { errno });
  }
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(E)) if (value === errno) return name;
  return `errno ${errno}`;
}

/**
 * Maps a positive errno from a backend's lock or kernel-write call to a typed
 * error. The device checks read-only and closed itself before it calls a
 * backend, so an EBADF here is a system error, never a read-only one.
 */
export function lockError(errno: number, operation: string, timeoutMs: number): KshmError {
  switch (errno) {
    case E.ETIMEDOUT: return new LockTimeoutError(timeoutMs);
    case E.ECANCELED: return new LockCancelledError();
    case E.EDEADLK: return new LockDeadlockError(operation);
    default: return systemError(operation, errno);
  }
}

/**
 * The device has no ring of records (EVENTS): the driver was loaded without
 * `ring=N` (or the region was created without one; the fake: without
 * `createFakeDevice({ ring })`). `events$()` and `emit()` need one.
 */
export class NoRingError extends KshmError {
  constructor() {
    super('KSHM_NO_RING', 'this kshm device has no ring of records (load the driver with ring=N)',
      { errno: E.ENOSPC });
  }
}
