// SPDX-License-Identifier: MIT
import type { OperatorFunction } from 'rxjs';
import type { Device, TransactionOptions } from '../types.js';
import type { Page } from '../page.js';

/**
 * Runs one transaction per source value, in order (concatMap semantics),
 * and emits each result. An error in a transaction (thrown by `fn`, a
 * timeout, a closed device) rolls that transaction back and errors the
 * stream; values after it are not applied.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { transact } from 'kshm';
 * from([1, 2, 3]).pipe(
 *   transact(device, (page, n: number) => { page.setU32(0, page.u32(0) + n); return page.u32(0); }),
 * ).subscribe(console.log); // 1, 3, 6 on a zeroed region
 * ```
 */
export function transact<T, R>(device: Device, fn: (page: Page, value: T) => PromiseLike<R>,
  options?: TransactionOptions): OperatorFunction<T, R>;
export function transact<T, R>(device: Device, fn: (page: Page, value: T) => R,
  options?: TransactionOptions): OperatorFunction<T, R>;
export function transact<T, R>(device: Device, fn: (page: Page, value: T) => R | PromiseLike<R>,
  options?: TransactionOptions): OperatorFunction<T, R> {
  return device.transact<T, R>(fn as (page: Page, value: T) => R, options);
}
