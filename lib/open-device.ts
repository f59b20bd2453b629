// SPDX-License-Identifier: MIT
import type { SchedulerLike } from 'rxjs';
import { KshmDevice } from './device.js';
import type { Device } from './types.js';
import { openNativeBackend } from './native/native-backend.js';

/** Options of {@link openDevice}. */
export interface OpenDeviceOptions {
  /** Map the data read-only: snapshots only, no lock, no writes. */
  readOnly?: boolean | undefined;
  /**
   * The default of `fastPath` for this device's transactions and leases
   * (see {@link TransactionOptions.fastPath}); default true.
   */
  fastPath?: boolean | undefined;
  /** The scheduler for timeouts and retries (default: RxJS's asyncScheduler). */
  scheduler?: SchedulerLike | undefined;
}

/**
 * Opens the kshm device. Fails with a typed error that says what to do:
 * {@link DeviceNotFoundError} (load the driver; in a clone of kshm, or run
 * in a guest with `npm run vm`), {@link PermissionDeniedError} (which group
 * to join), {@link AbiMismatchError}, {@link LibraryNotFoundError} (no
 * libkshm.so fits this machine: build one, set `KSHM_LIBRARY`).
 *
 * @example
 * ```ts
 * import { openDevice } from 'kshm';
 * const device = await openDevice();
 * device.snapshots$.subscribe((s) => console.log(s.generation, s.u64(0)));
 * ```
 */
export async function openDevice(path = '/dev/kshm', options: OpenDeviceOptions = {}): Promise<Device> {
  const backend = openNativeBackend(path, options.readOnly ?? false);
  return new KshmDevice(backend, {
    ...(options.scheduler ? { scheduler: options.scheduler } : {}),
    ...(options.fastPath !== undefined ? { fastPath: options.fastPath } : {}),
  });
}
