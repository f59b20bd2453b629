// Type-level tests of typed layouts that must NOT compile: every line after
// `@ts-expect-error TSnnnn` must fail, with that code (the spec compiles this
// file without the directives and compares every error's line and code).
import { defineLayout, layoutFromJSON } from 'kshm';
import type { Page, Snapshot } from 'kshm';
import { Page as PageClass, Snapshot as SnapshotClass, type Lease } from 'kshm';
// nothing internal is reachable (issue 18): not from the package's index...
// @ts-expect-error TS2305
import { createPage } from 'kshm';
// ...nor by a deep import (the package exports only its index and kshm/testing)
// @ts-expect-error TS2307
import { endPage } from 'kshm/dist/lib/page.js';
import { assertType, type Equal } from './equal.js';

declare const snapshot: Snapshot;
declare const page: Page;

const point = defineLayout({ x: { at: 0, type: 'i32' }, y: { at: 4, type: 'i32' } });
const l = defineLayout({
  count: { at: 0, type: 'u32' },
  total: { at: 8, type: 'u64' },
  name: { at: 16, type: 'utf8', length: 8 },
  raw: { at: 24, type: 'bytes', length: 4 },
  levels: { at: 28, type: 'u8', count: 4 },
  pos: { at: 32, layout: point },
});

// the equality helper of must-compile.ts tells types apart
// @ts-expect-error TS2344
assertType<Equal<{ a: number[] }, { a: readonly number[] }>>();
// @ts-expect-error TS2344
assertType<Equal<{ a: number }, { a?: number }>>();
// @ts-expect-error TS2344
assertType<Equal<number, bigint>>();

// fields that are not fields
// @ts-expect-error TS2322
defineLayout({ a: { at: 0, type: 'float' } });
// @ts-expect-error TS2322
defineLayout({ a: { at: 0, type: 'utf8' } });
// @ts-expect-error TS2322
defineLayout({ a: { at: 0, type: 'bytes', count: 2 } });
// @ts-expect-error TS2322
defineLayout({ a: { at: 0, type: 'u32', length: 4 } });
// @ts-expect-error TS2322
defineLayout({ a: { at: '0', type: 'u32' } });
// @ts-expect-error TS2322
defineLayout({ a: { at: 0 } });
// @ts-expect-error TS2322
defineLayout({ a: { at: 0, type: 'u8', layout: point } });
// @ts-expect-error TS2353
defineLayout({ a: { at: 0, layout: { x: { at: 0, type: 'u8' } } } });

// what a read gives
const v = snapshot.read(l);
// @ts-expect-error TS2322
const n: number = v.total;
// @ts-expect-error TS2322
const s: number = v.name;
// @ts-expect-error TS2339
void v.missing;
// @ts-expect-error TS2322
const single: number = page.read(l).levels;
// @ts-expect-error TS2339
void v.pos.z;

// what a write takes
// @ts-expect-error TS2322
page.write(l, { count: 'one' });
// @ts-expect-error TS2322
page.write(l, { total: 1 });
// @ts-expect-error TS2353
page.write(l, { missing: 1 });
// @ts-expect-error TS2740
page.write(l, { raw: [1, 2] });
// @ts-expect-error TS2322
page.write(l, { levels: 1 });
// @ts-expect-error TS2353
page.write(l, { pos: { z: 1 } });
// @ts-expect-error TS2379
page.write(l, { name: undefined });
// @ts-expect-error TS2559
page.write(l, 5);

// a layout from JSON is not typed: its values must be checked before use
const data = snapshot.read(layoutFromJSON('{"count":{"at":0,"type":"u32"}}'));
// @ts-expect-error TS2322
const unchecked: number = data['count'];
// @ts-expect-error TS2741
snapshot.read({ size: 4, fields: {} });

// internal methods of pages, snapshots and leases are not in the public types (issue 18)
declare const lease: Lease;
// @ts-expect-error TS2339
page.end();
// @ts-expect-error TS2339
page.rollback();
// @ts-expect-error TS2339
page.committedBytes();
// @ts-expect-error TS2339
page.keep();
// @ts-expect-error TS2339
lease.page.end();
// @ts-expect-error TS2339
void snapshot.seq;
// @ts-expect-error TS2673
new PageClass(new Uint8Array(4), false, 0n);
// @ts-expect-error TS2673
new SnapshotClass(new Uint8Array(4), 0n, 0);

void [n, s, single, unchecked, createPage, endPage];
