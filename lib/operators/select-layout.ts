// SPDX-License-Identifier: MIT
import { distinctUntilChanged, map, type OperatorFunction } from 'rxjs';
import { planOf, type FieldMap, type Layout, type LayoutValue } from '../layout.js';
import type { Snapshot } from '../snapshot.js';

/**
 * Whether two values read from one layout are the same: numbers by
 * `Object.is` (NaN is NaN, 0 is not -0), bigints and strings by value,
 * Uint8Arrays byte by byte, arrays element by element, nested objects field
 * by field.
 *
 * @example
 * ```ts
 * layoutValuesEqual({ a: [1n], b: Uint8Array.of(1) }, { a: [1n], b: Uint8Array.of(1) }); // true
 * ```
 * @see {@link selectLayout}
 */
export function layoutValuesEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!layoutValuesEqual(a[i], b[i])) return false;
    return true;
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null
    && !Array.isArray(b) && !(b instanceof Uint8Array)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    for (const k of keys) {
      if (!Object.hasOwn(b, k)
        || !layoutValuesEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    }
    return true;
  }
  return false;
}

/**
 * Maps each snapshot to the typed object of `layout` at `offset`
 * (`snapshot.read(layout, offset)`) and emits it only when a field changed
 * (deep compare, see {@link layoutValuesEqual}): one consistent object per
 * commit, no `combineLatest` of separate fields. Each emission is a fresh
 * object (yours to keep or change). A layout that does not fit the region
 * errors the stream with a RangeError; anything but a layout throws a
 * TypeError at once.
 *
 * @example
 * ```ts
 * import { defineLayout, selectLayout } from 'kshm';
 * const state = defineLayout({ count: { at: 0, type: 'u32' }, name: { at: 4, type: 'utf8', length: 12 } });
 * device.snapshots$.pipe(selectLayout(state)).subscribe(({ count, name }) => console.log(name, count));
 * // the same as device.select$(state)
 * ```
 * @see {@link defineLayout}
 * @see {@link select} for one derived value
 */
export function selectLayout<M extends FieldMap>(layout: Layout<M>, offset = 0): OperatorFunction<Snapshot, LayoutValue<M>> {
  planOf(layout);
  return (source) => source.pipe(
    // The comparison keeps its own copy of the last values; subscribers get another.
    distinctUntilChanged(layoutValuesEqual, (s: Snapshot) => s.read(layout, offset)),
    map((s) => s.read(layout, offset)),
  );
}
