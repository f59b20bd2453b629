// SPDX-License-Identifier: MIT
/**
 * Typed layouts: a description of what lives at which offset of the shared
 * data, checked once when it is defined, from which TypeScript infers the
 * type of what `snapshot.read(layout)` and `page.read(layout)` return and of
 * what `page.write(layout, values)` takes.
 * @module
 */

/**
 * The number types of a field: little-endian, as `DataView` reads them;
 * `u64` and `i64` read as bigints.
 *
 * @example
 * ```ts
 * const t: NumberType = 'u16';
 * ```
 * @see {@link NumberField}
 */
export type NumberType = 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'i64' | 'f32' | 'f64';

/**
 * Every `type` a field can have: a number type, `utf8` text or raw `bytes`.
 *
 * @example
 * ```ts
 * const t: FieldType = 'utf8';
 * ```
 * @see {@link FieldSpec}
 */
export type FieldType = NumberType | 'utf8' | 'bytes';

/**
 * A number field (`count`: an array of `count` numbers, packed).
 *
 * @example
 * ```ts
 * defineLayout({ hits: { at: 0, type: 'u32' }, samples: { at: 8, type: 'f64', count: 4 } });
 * ```
 * @see {@link defineLayout}
 */
export interface NumberField {
  /** Byte offset of the field in the layout. */
  readonly at: number;
  readonly type: NumberType;
  /** Makes the field an array of this many numbers. */
  readonly count?: number;
  readonly length?: never;
  readonly layout?: never;
}

/**
 * A fixed-size text (`utf8`, read up to the first NUL byte) or raw `bytes`
 * field of `length` bytes.
 *
 * @example
 * ```ts
 * defineLayout({ name: { at: 0, type: 'utf8', length: 32 }, mac: { at: 32, type: 'bytes', length: 6 } });
 * ```
 * @see {@link defineLayout}
 */
export interface SizedField {
  /** Byte offset of the field in the layout. */
  readonly at: number;
  readonly type: 'utf8' | 'bytes';
  /** Bytes of the field. */
  readonly length: number;
  readonly count?: never;
  readonly layout?: never;
}

/**
 * A nested struct: another layout at `at` (`count`: an array of them, each
 * `layout.size` bytes after the previous one).
 *
 * @example
 * ```ts
 * const point = defineLayout({ x: { at: 0, type: 'i32' }, y: { at: 4, type: 'i32' } });
 * defineLayout({ origin: { at: 0, layout: point }, path: { at: 8, layout: point, count: 10 } });
 * ```
 * @see {@link defineLayout}
 */
export interface NestedField {
  /** Byte offset of the nested struct in the layout. */
  readonly at: number;
  readonly layout: Layout;
  /** Makes the field an array of this many structs. */
  readonly count?: number;
  readonly type?: never;
  readonly length?: never;
}

/**
 * One field of a layout.
 *
 * @example
 * ```ts
 * const field: FieldSpec = { at: 4, type: 'u16', count: 2 };
 * ```
 * @see {@link defineLayout}
 */
export type FieldSpec = NumberField | SizedField | NestedField;

/**
 * The fields of a layout by name (what {@link defineLayout} takes and
 * `layout.fields` holds).
 *
 * @example
 * ```ts
 * const fields = { count: { at: 0, type: 'u32' } } satisfies FieldMap;
 * ```
 * @see {@link defineLayout}
 */
export interface FieldMap {
  readonly [name: string]: FieldSpec;
}

/**
 * A checked description of the shared data: made by {@link defineLayout} or
 * {@link layoutFromJSON}, read with `snapshot.read(layout, offset?)` and
 * `page.read(layout, offset?)`, written with `page.write(layout, values,
 * offset?)`, watched with `device.select$(layout, offset?)`.
 * `JSON.stringify(layout)` gives its field map, the form
 * {@link layoutFromJSON} reads.
 *
 * @example
 * ```ts
 * const header = defineLayout({ magic: { at: 0, type: 'u32' }, name: { at: 4, type: 'utf8', length: 12 } });
 * header.size;   // 16
 * header.fields; // { magic: { at: 0, type: 'u32' }, name: { at: 4, type: 'utf8', length: 12 } }
 * ```
 * @see {@link defineLayout}
 * @see {@link LayoutValue}
 */
export interface Layout<M extends FieldMap = FieldMap> {
  /** Bytes the layout spans: the end of its last field's last byte. */
  readonly size: number;
  /** The fields, as given (frozen). */
  readonly fields: M;
  /** The field map, nested layouts inline: what {@link layoutFromJSON} reads. */
  toJSON(): LayoutJSON;
}

/**
 * A layout's JSON form (nested layouts inline as `{ "at": 8, "layout": { ... } }`).
 *
 * @example
 * ```ts
 * const json: LayoutJSON = { count: { at: 0, type: 'u32' }, pos: { at: 8, layout: { x: { at: 0, type: 'f64' } } } };
 * ```
 * @see {@link layoutFromJSON}
 */
export interface LayoutJSON {
  readonly [name: string]: {
    readonly at: number;
    readonly type?: FieldType;
    readonly length?: number;
    readonly count?: number;
    readonly layout?: LayoutJSON;
  };
}

/** What a field reads as, one element. */
type ElementValue<F> =
  F extends { readonly layout: Layout<infer N> } ? LayoutValue<N>
    : F extends { readonly type: 'utf8' } ? string
      : F extends { readonly type: 'bytes' } ? Uint8Array
        : F extends { readonly type: 'u64' | 'i64' } ? bigint
          : F extends { readonly type: NumberType } ? number
            : never;

/**
 * What a field reads as: `u64`/`i64` -> bigint, other numbers -> number,
 * `utf8` -> string, `bytes` -> Uint8Array, nested -> object, and an array of
 * those with `count`.
 *
 * @example
 * ```ts
 * type T = FieldValue<{ at: 0; type: 'u64'; count: 2 }>; // bigint[]
 * ```
 * @see {@link LayoutValue}
 */
export type FieldValue<F> = F extends { readonly count: number } ? ElementValue<F>[] : ElementValue<F>;

/**
 * A value of any field of a layout whose fields are not known to
 * TypeScript (one from {@link layoutFromJSON}).
 *
 * @example
 * ```ts
 * const v: FieldData = snapshot.read(layoutFromJSON(text))['count'] ?? 0;
 * ```
 * @see {@link LayoutData}
 */
export type FieldData = number | bigint | string | Uint8Array | number[] | bigint[] | string[] | Uint8Array[]
  | LayoutData | LayoutData[];

/**
 * What a layout whose fields are not known to TypeScript reads as: an
 * object of {@link FieldData} by name.
 *
 * @example
 * ```ts
 * const data: LayoutData = snapshot.read(layoutFromJSON(text));
 * for (const [name, value] of Object.entries(data)) console.log(name, value);
 * ```
 * @see {@link layoutFromJSON}
 */
export interface LayoutData {
  [name: string]: FieldData;
}

/**
 * What `read(layout)` returns: a plain object with one property per field,
 * typed by {@link FieldValue}; {@link LayoutData} for a layout whose fields
 * TypeScript does not know.
 *
 * @example
 * ```ts
 * const stats = defineLayout({ hits: { at: 0, type: 'u64' }, name: { at: 8, type: 'utf8', length: 8 } });
 * type Stats = LayoutValue<typeof stats.fields>; // { hits: bigint; name: string }
 * ```
 * @see {@link defineLayout}
 */
export type LayoutValue<M extends FieldMap> = string extends keyof M ? LayoutData
  : { -readonly [K in keyof M]: FieldValue<M[K]> };

/** What one element of a field takes in a write. */
type ElementPatch<F> = F extends { readonly layout: Layout<infer N> } ? LayoutPatch<N> : ElementValue<F>;

/**
 * What a field takes in `page.write`: its value, where an array writes its
 * elements from index 0 (the rest stay as they are; an `undefined` element
 * is skipped) and a nested struct takes a {@link LayoutPatch}.
 *
 * @example
 * ```ts
 * type P = FieldPatch<{ at: 0; type: 'u8'; count: 4 }>; // readonly (number | undefined)[]
 * ```
 * @see {@link LayoutPatch}
 */
export type FieldPatch<F> = F extends { readonly count: number } ? readonly (ElementPatch<F> | undefined)[]
  : ElementPatch<F>;

/**
 * A value of any field in a write to a layout whose fields TypeScript does not know.
 *
 * @example
 * ```ts
 * const v: FieldDataPatch = [1, undefined, 3];
 * ```
 * @see {@link LayoutDataPatch}
 */
export type FieldDataPatch = number | bigint | string | Uint8Array | LayoutDataPatch
  | readonly (number | bigint | string | Uint8Array | LayoutDataPatch | undefined)[];

/**
 * What `page.write` takes for a layout whose fields TypeScript does not know.
 *
 * @example
 * ```ts
 * page.write(layoutFromJSON(text), { count: 1 } satisfies LayoutDataPatch);
 * ```
 * @see {@link layoutFromJSON}
 */
export interface LayoutDataPatch {
  [name: string]: FieldDataPatch | undefined;
}

/**
 * What `page.write(layout, values)` takes: a deep partial of
 * {@link LayoutValue}; only the fields given are written.
 *
 * @example
 * ```ts
 * const l = defineLayout({ a: { at: 0, type: 'u8' }, p: { at: 4, layout: point } });
 * const patch: LayoutPatch<typeof l.fields> = { p: { y: 2 } }; // a and p.x stay as they are
 * ```
 * @see {@link LayoutValue}
 */
export type LayoutPatch<M extends FieldMap> = string extends keyof M ? LayoutDataPatch
  : { -readonly [K in keyof M]?: FieldPatch<M[K]> };

/* ---- the checked plan behind a layout --------------------------------- */

/** @internal one field, checked, as the readers and writers use it */
export interface PlanField {
  readonly name: string;
  readonly at: number;
  readonly kind: FieldType | 'layout';
  /** Bytes of one element. */
  readonly width: number;
  /** Elements of an array field; undefined for a single value. */
  readonly count: number | undefined;
  /** The nested plan of a `layout` field. */
  readonly sub: Plan | undefined;
}

/** @internal a layout, checked */
export interface Plan {
  readonly size: number;
  readonly fields: readonly PlanField[];
  readonly byName: ReadonlyMap<string, PlanField>;
}

const WIDTHS: Readonly<Record<NumberType, number>> = {
  u8: 1, u16: 2, u32: 4, u64: 8, i8: 1, i16: 2, i32: 4, i64: 8, f32: 4, f64: 8,
};
const TYPES = [...Object.keys(WIDTHS), 'utf8', 'bytes'];
const KEYS = new Set(['at', 'type', 'length', 'count', 'layout']);

const plans = new WeakMap<object, Plan>();

/** @internal the checked plan of a layout; TypeError for anything not made by defineLayout/layoutFromJSON */
export function planOf(layout: unknown): Plan {
  const plan = typeof layout === 'object' && layout !== null ? plans.get(layout) : undefined;
  if (!plan) throw new TypeError('not a layout: make one with defineLayout() or layoutFromJSON()');
  return plan;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-negative (or positive) safe integer, else TypeError/RangeError naming the field. */
function checkCount(value: unknown, what: string, name: string, min: number): number {
  if (typeof value !== 'number') {
    throw new TypeError(`field "${name}": ${what} must be a number, got ${typeof value}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`field "${name}": ${what} must be a ${min === 0 ? 'non-negative' : 'positive'} integer, got ${value}`);
  }
  return value;
}

/**
 * Checks a field map and makes its layout. `prefix` names nested fields in
 * messages ("outer.inner"); `inline` turns plain-object `layout`s into
 * layouts (the JSON form).
 */
function build(fields: unknown, prefix: string, inline: boolean): Layout {
  if (!isRecord(fields)) {
    throw new TypeError(`${prefix ? `field "${prefix.slice(0, -1)}": ` : ''}a layout is an object of fields by name`);
  }
  const names = Object.keys(fields);
  if (names.length === 0) {
    throw new RangeError(`${prefix ? `field "${prefix.slice(0, -1)}": ` : ''}a layout needs at least one field`);
  }
  const planned: PlanField[] = [];
  const copy: Record<string, FieldSpec> = {};
  for (const key of names) {
    const name = prefix + key;
    if (key === '' || key === '__proto__') throw new TypeError(`field "${name}": not a usable field name`);
    const spec = fields[key];
    if (!isRecord(spec)) {
      throw new TypeError(`field "${name}": expected { at, type, length?, count? } or { at, layout, count? }`);
    }
    for (const k of Object.keys(spec)) {
      if (!KEYS.has(k)) throw new TypeError(`field "${name}": unknown property "${k}" (expected at, type, length, count, layout)`);
    }
    const at = checkCount(spec['at'], 'at', name, 0);
    const count = spec['count'] === undefined ? undefined : checkCount(spec['count'], 'count', name, 1);
    let field: PlanField;
    let kept: Record<string, unknown>;
    if (spec['layout'] !== undefined) {
      if (spec['type'] !== undefined) throw new TypeError(`field "${name}": give either type or layout, not both`);
      if (spec['length'] !== undefined) {
        throw new TypeError(`field "${name}": length is for utf8 and bytes fields (use count for an array of structs)`);
      }
      let layout = spec['layout'];
      if (inline && isRecord(layout) && !plans.has(layout)) layout = build(layout, `${name}.`, true);
      const sub = plans.get(layout as object);
      if (!sub) throw new TypeError(`field "${name}": layout must be a layout made by defineLayout()`);
      field = { name: key, at, kind: 'layout', width: sub.size, count, sub };
      kept = { at, layout };
    } else {
      const type = spec['type'];
      if (type === undefined) throw new TypeError(`field "${name}": needs a type or a layout`);
      if (typeof type !== 'string' || !TYPES.includes(type)) {
        throw new TypeError(`field "${name}": unknown type ${JSON.stringify(type)} (expected one of ${TYPES.join(', ')})`);
      }
      if (type === 'utf8' || type === 'bytes') {
        if (spec['length'] === undefined) throw new TypeError(`field "${name}": a ${type} field needs a length in bytes`);
        const length = checkCount(spec['length'], 'length', name, 1);
        if (count !== undefined) {
          throw new TypeError(`field "${name}": count is for numbers and nested layouts; a ${type} field has a length`);
        }
        field = { name: key, at, kind: type, width: length, count: undefined, sub: undefined };
        kept = { at, type, length };
      } else {
        if (spec['length'] !== undefined) {
          throw new TypeError(`field "${name}": length is for utf8 and bytes fields (use count for an array of numbers)`);
        }
        field = { name: key, at, kind: type as NumberType, width: WIDTHS[type as NumberType], count, sub: undefined };
        kept = { at, type };
      }
    }
    if (count !== undefined) kept['count'] = count;
    if (!Number.isSafeInteger(at + field.width * (count ?? 1))) throw new RangeError(`field "${name}": too large`);
    planned.push(field);
    copy[key] = Object.freeze(kept) as unknown as FieldSpec;
  }
  // Overlaps: in offset order, each field must start at or after the furthest end so far.
  const byOffset = [...planned].sort((a, b) => a.at - b.at);
  let last: PlanField | undefined;
  let size = 0;
  for (const f of byOffset) {
    const end = f.at + f.width * (f.count ?? 1);
    if (last && f.at < size) {
      throw new RangeError(`field "${prefix}${f.name}" (bytes [${f.at}, ${end})) overlaps field "${prefix}${last.name}"`
        + ` (bytes [${last.at}, ${size}))`);
    }
    if (end > size) {
      size = end;
      last = f;
    }
  }
  const plan: Plan = { size, fields: planned, byName: new Map(planned.map((f) => [f.name, f])) };
  const frozen = Object.freeze(copy);
  const layout: Layout = Object.freeze({
    size,
    fields: frozen,
    toJSON(): LayoutJSON {
      const out: Record<string, unknown> = {};
      for (const [key, spec] of Object.entries(frozen)) {
        out[key] = spec.layout ? { ...spec, layout: spec.layout.toJSON() } : { ...spec };
      }
      return out as LayoutJSON;
    },
  });
  plans.set(layout, plan);
  return layout;
}

/** Refuses properties a field does not have (`{ at: 0, type: 'u8', lenght: 4 }`) at compile time. */
type NoUnknownProperties<M> = {
  readonly [K in keyof M]: { readonly [P in Exclude<keyof M[K], 'at' | 'type' | 'length' | 'count' | 'layout'>]: never };
};

/**
 * Describes the shared data: each field by name, at a byte offset, with a
 * `type` (`u8 u16 u32 u64 i8 i16 i32 i64 f32 f64`, `utf8` and `bytes` with a
 * `length`, numbers and nested layouts with a `count` for an array) or a
 * nested `layout`. Checked now: offsets and sizes must be non-negative /
 * positive integers, types known, and fields must not overlap (TypeError or
 * RangeError, naming the field). `size` is the end of the last field.
 * TypeScript infers the type of what the layout reads ({@link LayoutValue})
 * from the literal: no `as const` needed.
 *
 * @example
 * ```ts
 * import { defineLayout } from 'kshm';
 * const point = defineLayout({ x: { at: 0, type: 'f64' }, y: { at: 8, type: 'f64' } });
 * const state = defineLayout({
 *   count: { at: 0, type: 'u64' },                 // bigint
 *   name: { at: 8, type: 'utf8', length: 24 },     // string
 *   levels: { at: 32, type: 'u16', count: 4 },     // number[]
 *   pos: { at: 40, layout: point },                // { x: number; y: number }
 * });
 * state.size;                                      // 56
 * device.select$(state).subscribe((s) => console.log(s.name, s.pos.x));
 * device.transaction((page) => page.write(state, { pos: { y: 1.5 } })).subscribe();
 * ```
 * @see {@link layoutFromJSON} for layouts from JSON files
 * @see {@link selectLayout}
 */
export function defineLayout<const M extends FieldMap>(fields: M & NoUnknownProperties<M>): Layout<M> {
  return build(fields, '', false) as Layout<M>;
}

/**
 * A layout from its JSON form: the same field map as {@link defineLayout}
 * takes, nested layouts inline as `{ "at": 8, "layout": { ...fields } }`,
 * checked the same way (a SyntaxError for text that is not JSON). What it
 * reads is typed {@link LayoutData}: every field is there at run time, and
 * TypeScript makes you check each value's type. `JSON.stringify(layout)`
 * gives this form back.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { layoutFromJSON } from 'kshm';
 * const layout = layoutFromJSON(readFileSync('state.json', 'utf8'));
 * device.select$(layout).subscribe((fields) => console.log(fields));
 * ```
 * @see {@link defineLayout}
 */
export function layoutFromJSON(json: string | object): Layout {
  let fields: unknown = json;
  if (typeof json === 'string') {
    try {
      fields = JSON.parse(json);
    } catch (e) {
      throw new SyntaxError(`layout JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  return build(fields, '', true);
}
