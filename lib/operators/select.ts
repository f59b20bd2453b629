// SPDX-License-Identifier: MIT
import { distinctUntilChanged, map, type OperatorFunction } from 'rxjs';
import type { Snapshot } from '../snapshot.js';

/**
 * Derives a field from each snapshot and emits it only when it changes
 * (`compare`, default `===`).
 *
 * @example
 * ```ts
 * import { select } from 'kshm';
 * device.snapshots$.pipe(select((s) => s.u32(0))).subscribe((count) => console.log(count));
 * ```
 */
export function select<T>(project: (snapshot: Snapshot) => T,
  compare?: (a: T, b: T) => boolean): OperatorFunction<Snapshot, T> {
  return (source) => source.pipe(map(project), distinctUntilChanged(compare));
}
