// Type-level tests of typed layouts that must compile: the inferred types,
// asserted exactly. Run by spec/host/layout-types.spec.ts.
import { defineLayout, layoutFromJSON, selectLayout, type FieldMap, type LayoutData, type LayoutPatch, type Layout } from 'kshm';
import { createFakeDevice } from 'kshm/testing';
import type { Observable, OperatorFunction } from 'rxjs';
import type { Snapshot, Page } from 'kshm';
import { assertType, type Equal } from './equal.js';

// no `as const` needed
const point = defineLayout({ x: { at: 0, type: 'i32' }, y: { at: 4, type: 'i32' } });
const all = defineLayout({
  u8: { at: 0, type: 'u8' },
  u16: { at: 2, type: 'u16' },
  u32: { at: 4, type: 'u32' },
  u64: { at: 8, type: 'u64' },
  i8: { at: 16, type: 'i8' },
  i16: { at: 18, type: 'i16' },
  i32: { at: 20, type: 'i32' },
  i64: { at: 24, type: 'i64' },
  f32: { at: 32, type: 'f32' },
  f64: { at: 40, type: 'f64' },
  name: { at: 48, type: 'utf8', length: 16 },
  raw: { at: 64, type: 'bytes', length: 4 },
  levels: { at: 68, type: 'u16', count: 4 },
  big: { at: 80, type: 'i64', count: 2 },
  origin: { at: 96, layout: point },
  path: { at: 104, layout: point, count: 3 },
});

type All = {
  u8: number; u16: number; u32: number; u64: bigint;
  i8: number; i16: number; i32: number; i64: bigint;
  f32: number; f64: number;
  name: string; raw: Uint8Array;
  levels: number[]; big: bigint[];
  origin: { x: number; y: number };
  path: { x: number; y: number }[];
};

declare const snapshot: Snapshot;
declare const page: Page;

const fromSnapshot = snapshot.read(all);
assertType<Equal<typeof fromSnapshot, All>>();
const fromPage = page.read(all, 8);
assertType<Equal<typeof fromPage, All>>();
assertType<Equal<typeof all.size, number>>();
assertType<Equal<typeof all.fields.name, { readonly at: 48; readonly type: 'utf8'; readonly length: 16 }>>();

// nested layouts of nested layouts
const outer = defineLayout({ inner: { at: 0, layout: defineLayout({ p: { at: 0, layout: point } }) } });
const o = snapshot.read(outer);
assertType<Equal<typeof o, { inner: { p: { x: number; y: number } } }>>();

// write: a deep partial; a read value writes back as is
page.write(all, {});
page.write(all, { u64: 1n, name: 'x', raw: Uint8Array.of(1), levels: [1, 2] });
page.write(all, { origin: { y: 2 }, path: [undefined, { x: 1 }], big: [5n] });
page.write(all, fromPage, 0);
page.write(all, { levels: [1, 2, 3] as readonly number[] });
type Patch = LayoutPatch<typeof all.fields>;
assertType<Equal<Patch['origin'], { x?: number; y?: number } | undefined>>();
assertType<Equal<Patch['big'], readonly (bigint | undefined)[] | undefined>>();

// the operator and device.select$
const op = selectLayout(all);
assertType<Equal<typeof op, OperatorFunction<Snapshot, All>>>();
const fake = createFakeDevice();
const typed$ = fake.select$(point, 16);
assertType<Equal<typeof typed$, Observable<{ x: number; y: number }>>>();
const derived$ = fake.select$((s) => s.u8(0));
assertType<Equal<typeof derived$, Observable<number>>>();
const compared$ = fake.select$((s) => s.u64(0), (a, b) => a === b);
assertType<Equal<typeof compared$, Observable<bigint>>>();

// a layout from JSON: untyped but safe
const loaded = layoutFromJSON('{"count":{"at":0,"type":"u32"}}');
assertType<Equal<typeof loaded, Layout>>();
const data = snapshot.read(loaded);
assertType<Equal<typeof data, LayoutData>>();
const count = data['count'];
if (typeof count === 'number') page.write(loaded, { count: count + 1 });
page.write(loaded, { anything: [1, undefined], nested: { deeper: 'text' } });
const loaded$ = fake.select$(loaded);
assertType<Equal<typeof loaded$, Observable<LayoutData>>>();

// typed layouts nest in layouts from JSON and the other way round
const mixed = layoutFromJSON({ p: { at: 0, layout: point } });
assertType<Equal<typeof mixed, Layout>>();
const back = defineLayout({ json: { at: 0, layout: loaded } });
const b = snapshot.read(back);
assertType<Equal<typeof b, { json: LayoutData }>>();

// a layout is assignable to the wide type
const wide: Layout = all;
void wide;

// the README's example
{
  const point2 = defineLayout({ x: { at: 0, type: 'f64' }, y: { at: 8, type: 'f64' } });
  const state = defineLayout({
    count: { at: 0, type: 'u64' },
    name: { at: 8, type: 'utf8', length: 24 },
    levels: { at: 32, type: 'u16', count: 4 },
    mac: { at: 40, type: 'bytes', length: 6 },
    pos: { at: 48, layout: point2 },
    trail: { at: 64, layout: point2, count: 8 },
  });
  fake.select$(state).subscribe(({ count, pos }) => console.log(count, pos.x));
  fake.transaction((p) => {
    const { count: c } = p.read(state);
    p.write(state, { count: c + 1n, pos: { y: 2.5 } });
  }).subscribe();
  const far = snapshot.read(state, 256);
  assertType<Equal<typeof far.trail, { x: number; y: number }[]>>();
  assertType<Equal<typeof far.mac, Uint8Array>>();
}

// a field map only known as FieldMap (built at run time) reads as LayoutData
{
  const map: FieldMap = { a: { at: 0, type: 'u8' } };
  const wideLayout = defineLayout(map);
  const w = snapshot.read(wideLayout);
  assertType<Equal<typeof w, LayoutData>>();
}
