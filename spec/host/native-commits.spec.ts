// lib/native/native-backend.ts's commit watcher (issue 20, P3), over
// libkshm's stand-in build with a shared region (its commit wake-ups are a
// FIFO, read() drains it, as poll()/read() on the driver) in a child process,
// since the library is chosen once per process: a wake-up's snapshot reaches
// the subscribers before the wake-up is consumed, and a commit made while
// they run is not lost to that read.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { onStandin, root } from './standin-child.js';

const test = suite('native backend commit wake-ups (stand-in library)');

const script = (name: string): string => `
const { libkshm } = await import(${JSON.stringify(`${root}dist/lib/native/libkshm.js`)});
const { openDevice } = await import(${JSON.stringify(`${root}dist/lib/index.js`)});
const lib = libkshm();
const events = [];
const consume = lib.consume;
lib.consume = (h, g) => { const r = consume(h, g); events.push('consume ' + r); return r; };
const path = 'standin:1:${name}';
const writer = await openDevice(path);
const reader = await openDevice(path, { readOnly: true });
const commit = (v) => writer.transaction((p) => p.setU8(0, v)).subscribe();
let inHandler = true;
const sub = reader.snapshots$.subscribe((s) => {
  events.push('deliver ' + s.u8(0));
  // A commit while the subscribers run: made before the first wake-up is consumed.
  if (s.u8(0) === 1 && inHandler) { inHandler = false; commit(2); }
});
commit(1);
const until = Date.now() + 5000;
while (!events.includes('deliver 2') && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 50));
sub.unsubscribe();
writer.close();
reader.close();
console.log(JSON.stringify(events));
`;

test('a wake-up is consumed after its snapshot is delivered; a commit made during delivery is delivered too', () => {
  const events = onStandin('spec-commits', script, 20000) as string[];
  // Before: consume, deliver 1, then the second commit's own wake-up (consume, deliver 2).
  assert.equal(events, ['deliver 0', 'deliver 1', 'consume 1', 'deliver 2']);
});

const many = (name: string): string => `
const { openDevice } = await import(${JSON.stringify(`${root}dist/lib/index.js`)});
const path = 'standin:1:${name}';
const writer = await openDevice(path);
const reader = await openDevice(path, { readOnly: true });
const kept = [];
const sub = reader.snapshots$.subscribe((s) => kept.push(s));
// 600 commits, each woken and delivered (4 KiB snapshots: past two 1 MiB slabs).
for (let i = 1; i <= 600; i++) {
  writer.transaction((p) => { p.setU32(0, i); p.fill(i & 0xff, 8, 4000); p.setU32(4092, i); }).subscribe();
  const until = Date.now() + 2000;
  while (kept.at(-1)?.u32(0) !== i && Date.now() < until) await new Promise((r) => setImmediate(r));
}
sub.unsubscribe();
const bad = kept.filter((s) => { const i = s.u32(0); const b = s.bytes;
  return s.u32(4092) !== i || b.subarray(8, 4000).some((x) => x !== (i & 0xff)) || BigInt(i) !== s.generation; });
writer.close();
reader.close();
console.log(JSON.stringify({ delivered: kept.length, last: kept.at(-1)?.u32(0), bad: bad.length }));
`;

test('every snapshot keeps the bytes of its commit across slabs, whatever the wake-ups prepare for the next one', () => {
  assert.equal(onStandin('spec-many', many, 60000), { delivered: 601, last: 600, bad: 0 });
});

test.run();
