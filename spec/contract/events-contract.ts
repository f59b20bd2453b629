/**
 * The events contract (EVENTS: the ring of records), written once against
 * the public Device interface and run against the fake with a ring (host)
 * and the driver loaded with ring=N (guest). The ring is shared by every
 * test (the driver's lives as long as the module), so tests follow their
 * own records by seq and type.
 */
import { filter, firstValueFrom, lastValueFrom, take, takeWhile, toArray } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DeviceClosedError, EventRecord, ReadOnlyDeviceError, type Device,
} from '../../lib/index.js';
import type { ContractTarget } from './device-contract.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A u32 payload. */
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

export function eventsContract(name: string, target: ContractTarget): void {
  const test = suite(`Events contract: ${name}`);
  const opened: Device[] = [];
  const open = async (options?: { readOnly?: boolean }): Promise<Device> => {
    const d = await target.open(options);
    opened.push(d);
    return d;
  };
  test.after.each(() => {
    for (const d of opened.splice(0)) d.close();
  });

  /** Subscribes `d.events$()` and resolves with the records up to seq `last` (inclusive), once subscribed. */
  const collect = (d: Device, until: (e: EventRecord) => boolean, from: 'now' | 'oldest' = 'now'): Promise<EventRecord[]> =>
    lastValueFrom(d.events$({ from }).pipe(takeWhile((e) => !until(e), true), toArray()));

  test('a device with a ring says so in info(): records, events published, wake-ups', async () => {
    const d = await open();
    const ring = d.info().ring;
    assert.ok(ring, 'info().ring');
    assert.ok(ring.records >= 64 && (ring.records & (ring.records - 1)) === 0, `records ${ring.records}`);
    const seq = d.emit(1);
    const after = d.info().ring;
    assert.is(after?.events, Number(seq) + 1);
    assert.ok((after?.wakeups ?? -1) >= 0);
  });

  test('events$: every record in order, contiguous seq, type, bytes, time, lostBefore 0', async () => {
    const reader = await open();
    const writer = await open();
    const seqs: bigint[] = [];
    const got = collect(reader, (e) => e.type === 71 && e.u32(0) === 49);
    await sleep(20); // subscribed: 'now' starts here
    for (let i = 0; i < 50; i++) seqs.push(writer.emit(71, u32(i)));
    const records = (await got).filter((e) => e.type === 71);
    assert.is(records.length, 50);
    for (let i = 0; i < 50; i++) {
      const e = records[i] as EventRecord;
      assert.ok(e instanceof EventRecord);
      assert.is(e.seq, seqs[i]);
      if (i > 0) assert.is(e.seq, (seqs[i - 1] as bigint) + 1n);
      assert.is(e.u32(0), i);
      assert.is(e.size, 4);
      assert.equal([...e.bytes], u32(i));
      assert.is(e.lostBefore, 0);
      assert.is(e.fromUser, true);
      assert.is(typeof e.timeNs, 'bigint');
      if (i > 0) assert.ok(e.timeNs >= (records[i - 1] as EventRecord).timeNs);
      assert.throws(() => e.u32(4), RangeError);
    }
  });

  test("from 'oldest': the records the ring still holds, then new ones", async () => {
    const d = await open();
    const first = d.emit(72, u32(1));
    d.emit(72, u32(2));
    const got = collect(d, (e) => e.type === 72 && e.u32(0) === 3, 'oldest');
    await sleep(20);
    d.emit(72, u32(3)); // a new one, after those the ring held
    const records = await got;
    assert.ok(records.length >= 3);
    const ours = records.filter((e) => e.type === 72 && e.seq >= first);
    assert.equal(ours.map((e) => e.u32(0)), [1, 2, 3]);
    const ring = d.info().ring?.records ?? 0;
    assert.ok(records.length <= ring + 1);
    records.forEach((e, i) => { if (i > 0) assert.is(e.seq, (records[i - 1] as EventRecord).seq + 1n); });
    assert.is(records[0]?.lostBefore, 0);
  });

  test('a stalled subscriber learns exactly how many records it lost, then gets every later one', async () => {
    const reader = await open();
    const writer = await open();
    const ring = reader.info().ring?.records ?? 0;
    const overrun = ring + 100;
    const seen: EventRecord[] = [];
    let last = -1n;
    let stalled = false;
    const done = new Promise<void>((resolve, reject) => {
      const sub = reader.events$().subscribe({
        next: (e) => {
          seen.push(e);
          if (e.type === 73 && e.u32(0) === 0) {
            // Stalled: the ring goes round while this subscriber cannot read.
            for (let i = 1; i <= overrun; i++) writer.emit(73, u32(i));
            stalled = true;
          }
          if (e.seq === last) {
            sub.unsubscribe();
            resolve();
          }
        },
        error: reject,
      });
    });
    await sleep(20);
    const start = writer.emit(73, u32(0));
    // The last records go after the stall (had they gone before, the stall's records
    // would overwrite them: a loaded host can keep the subscriber from reading for long).
    while (!stalled) await sleep(10);
    for (let i = 0; i < 10; i++) last = writer.emit(73, u32(overrun + 1 + i));
    await done;
    const ours = seen.filter((e) => e.seq >= start);
    const gaps = ours.filter((e) => e.lostBefore > 0);
    assert.is(gaps.length, 1, 'one gap');
    const gap = gaps[0] as EventRecord;
    const before = ours[ours.indexOf(gap) - 1] as EventRecord;
    assert.is(gap.seq, before.seq + 1n + BigInt(gap.lostBefore), 'lostBefore is the seq gap');
    assert.is(gap.u32(0), before.u32(0) + 1 + gap.lostBefore, "...and the producer's own count");
    assert.ok(gap.lostBefore >= overrun - ring, `lost ${gap.lostBefore}, at least ${overrun - ring} overwritten`);
    // Every record accounted for once: read or lost.
    const lost = ours.reduce((n, e) => n + e.lostBefore, 0);
    assert.is(ours.length + lost, Number(last - start) + 1);
    ours.forEach((e, i) => { if (i > 0 && e !== gap) assert.is(e.seq, (ours[i - 1] as EventRecord).seq + 1n); });
  });

  test('each subscription has its own position', async () => {
    const d = await open();
    const a: EventRecord[] = [];
    const subA = d.events$().pipe(filter((e) => e.type === 74)).subscribe((e) => a.push(e));
    await sleep(20);
    for (let i = 0; i < 5; i++) d.emit(74, u32(i));
    await sleep(50);
    const b = collect(d, (e) => e.type === 74 && e.u32(0) === 9);
    await sleep(20);
    for (let i = 5; i < 10; i++) d.emit(74, u32(i));
    const got = (await b).filter((e) => e.type === 74).map((e) => e.u32(0));
    await sleep(20);
    subA.unsubscribe();
    assert.equal(got, [5, 6, 7, 8, 9]);
    assert.equal(a.map((e) => e.u32(0)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('emit: the seq, and typed errors that publish nothing', async () => {
    const d = await open();
    const ro = await open({ readOnly: true });
    const s1 = d.emit(75, []);
    const s2 = d.emit(75, new Uint8Array(104));
    assert.is(s2, s1 + 1n);
    const head = d.info().ring?.events;
    assert.throws(() => d.emit(75, new Uint8Array(105)), RangeError);
    assert.throws(() => d.emit(-1), RangeError);
    assert.throws(() => d.emit(1.5), RangeError);
    assert.throws(() => d.emit(2 ** 32), RangeError);
    assert.throws(() => d.emit(75, [256]), RangeError);
    assert.throws(() => d.emit(75, [0.5]), RangeError);
    assert.throws(() => ro.emit(75, [1]), (e: unknown) => e instanceof ReadOnlyDeviceError);
    assert.is(d.info().ring?.events, head);
    // A read-only device reads records.
    const got = firstValueFrom(ro.events$().pipe(filter((e) => e.type === 76)));
    await sleep(20);
    d.emit(76, [9]);
    assert.is((await got).u8(0), 9);
    assert.is(d.emit(0xffffffff), (head !== undefined ? BigInt(head) : 0n) + 1n);
  });

  test('close: events$ completes, emit and events$ fail with DeviceClosedError', async () => {
    const d = await open();
    const done = lastValueFrom(d.events$().pipe(toArray()));
    await sleep(10);
    d.close();
    assert.equal(await done, []);
    assert.throws(() => d.emit(1), (e: unknown) => e instanceof DeviceClosedError);
    await firstValueFrom(d.events$()).then(() => assert.unreachable(), (e: unknown) => assert.ok(e instanceof DeviceClosedError));
  });

  test('records carry layouts: read(layout) and the typed readers', async () => {
    const { defineLayout } = await import('../../lib/index.js');
    const sample = defineLayout({ count: { at: 0, type: 'u64' }, label: { at: 8, type: 'utf8', length: 8 } });
    const d = await open();
    const got = firstValueFrom(d.events$().pipe(filter((e) => e.type === 77), take(1)));
    await sleep(20);
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 123n, true);
    bytes.set(new TextEncoder().encode('temp'), 8);
    d.emit(77, bytes);
    const e = await got;
    assert.equal(e.read(sample), { count: 123n, label: 'temp' });
    assert.is(e.u64(0), 123n);
    assert.is(e.utf8(8, 8), 'temp');
  });

  test.run();
}
