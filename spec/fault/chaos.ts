// Node-side chaos (a child process): random open/close/subscribe/unsubscribe/
// transaction/lease/kernel-write interleavings from a seed. Afterwards the
// lock must be free with nobody waiting, and the process must exit by itself.
import { lastValueFrom, type Subscription } from 'rxjs';
import { openDevice, type Device } from '../../lib/index.js';

const seed = Number(process.argv[2] ?? 1);
const steps = Number(process.argv[3] ?? 2000);
let s = seed || 1;
const rand = (n: number): number => {
  s = (s * 48271) % 2147483647;
  return s % n;
};
const devices: Device[] = [];
const subs: Subscription[] = [];
const swallow = { error: () => {} };
let granted = 0;

for (let step = 0; step < steps; step++) {
  const d = devices[rand(Math.max(1, devices.length))];
  switch (rand(10)) {
    // Devices, transactions and leases mix the fast path and the ioctl path.
    case 0: if (devices.length < 5) devices.push(await openDevice('/dev/kshm', { fastPath: rand(2) === 0 })); break;
    case 1: if (d && rand(3) === 0) { d.close(); devices.splice(devices.indexOf(d), 1); } break;
    case 2: if (d && !d.closed) subs.push(d.snapshots$.subscribe(swallow)); break;
    case 3: case 4:
      if (d && !d.closed) subs.push(d.transaction((p) => { p.setU32(3600, step); granted++; },
        rand(2) ? { timeoutMs: 1 + rand(20), fastPath: rand(2) === 0 } : {}).subscribe(swallow));
      break;
    case 5:
      if (d && !d.closed) subs.push(d.lock$({ fastPath: rand(2) === 0 }).subscribe({ next: (l) => { granted++; if (rand(2)) l.commit(); }, error: () => {} }));
      break;
    case 6: if (d && !d.closed) subs.push(d.kernelWrite(3700, [step & 0xff], { timeoutMs: 1 + rand(20) }).subscribe(swallow)); break;
    case 7: case 8: { const i = rand(Math.max(1, subs.length)); subs[i]?.unsubscribe(); subs.splice(i, 1); break; }
    default: await new Promise((r) => (rand(2) ? setImmediate(r) : setTimeout(r, rand(3))));
  }
}
for (const sub of subs) sub.unsubscribe();
const probe = await openDevice();
await new Promise((r) => setTimeout(r, 50));
for (const d of devices) d.close();
const info = probe.info();
await lastValueFrom(probe.transaction(() => 1, { timeoutMs: 2000 }));
probe.close();
console.log(JSON.stringify({ seed, steps, granted, locked: info.locked, waiters: info.waiters }));
