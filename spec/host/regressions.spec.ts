// Regressions a review found (session 9): each test failed on main at 972aa11.
import { lastValueFrom, map, take } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseEndedError } from '../../lib/index.js';
import { toBytes } from '../../lib/bytes.js';
import { createFakeDevice } from '../../lib/testing/index.js';

const test = suite('regressions: caller buffers, a lease ended inside its emission');

test('toBytes: a Buffer is copied, not aliased (Buffer.prototype.slice is a view)', () => {
  const buf = Buffer.from([1, 2, 3]);
  const copy = toBytes(buf);
  buf.fill(0xee);
  assert.equal([...copy], [1, 2, 3]);
});

test('kernelWrite, kernel.write, emit, kernel.emit: a Buffer the caller reuses after the call is not what gets written', async () => {
  const fake = createFakeDevice({ ring: 8 });
  const other = fake.open();
  // Another opener holds the lock, so both kernel writes queue.
  const hold = other.lock$().subscribe((lease) => { setTimeout(() => lease.abort(), 20); });
  await new Promise((r) => setTimeout(r, 5));
  const a = Buffer.from([1, 2, 3, 4]);
  const b = Buffer.from([5, 6, 7, 8]);
  const written = Promise.all([lastValueFrom(fake.kernelWrite(0, a)), lastValueFrom(fake.kernel.write(8, b))]);
  const e = Buffer.from([9, 10]);
  const k = Buffer.from([11, 12]);
  fake.emit(7, e);
  fake.kernel.emit(8, k);
  for (const buf of [a, b, e, k]) buf.fill(0xee); // the caller reuses its buffers
  await written;
  const s = await lastValueFrom(fake.snapshots$.pipe(take(1)));
  assert.equal([...s.bytes.subarray(0, 4)], [1, 2, 3, 4], 'device.kernelWrite');
  assert.equal([...s.bytes.subarray(8, 12)], [5, 6, 7, 8], 'kernel.write');
  const records: number[][] = [];
  const sub = fake.events$({ from: 'oldest' }).subscribe((r) => records.push([...r.bytes]));
  await new Promise((r) => setTimeout(r, 20));
  sub.unsubscribe();
  assert.equal(records, [[9, 10], [11, 12]], 'emit, kernel.emit');
  hold.unsubscribe();
  other.close();
  fake.close();
});

test('lock$: the first end of a lease inside its own emission wins, as outside it (killed, then the device closed)', async () => {
  for (const inside of [false, true]) {
    const fake = createFakeDevice();
    const end = await new Promise<unknown>((resolve) => {
      fake.lock$().pipe(map((lease) => {
        const kill = (): void => {
          fake.kernel.killHolder();
          fake.close();
        };
        if (inside) kill();
        else setTimeout(kill, 0);
        return lease.active;
      })).subscribe({ error: resolve, complete: () => resolve('completed') });
    });
    assert.instance(end, LeaseEndedError, inside ? 'inside the emission' : 'after the emission');
  }
});

test.run();
