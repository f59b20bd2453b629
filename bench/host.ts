// Host benchmarks: the library's own cost, over libkshm's stand-in build
// (a memfd with a driver-like header; each LOCK/UNLOCK is one ioctl FIONREAD
// on a pipe, a syscall of about the driver's weight: the guest's calibration
// measures how close). Run by bench/run.mjs with KSHM_LIBRARY pointing at
// native-shim/libkshm-standin.so. Prints one JSON object.
//
// P1 transactions on both lock paths, with a per-stage breakdown;
// P2 what a snapshots$ subscriber receives per commit (the seqcount copy, the
//    Snapshot, the Rx delivery), by region size and subscriber count, and
//    the copy alone; select$ of 8 bytes on a large region;
// P5 memory; the JS physical limit (SharedArrayBuffer + Atomics.wait/notify
//    between worker threads).
import { Worker } from 'node:worker_threads';
import { map, Subject } from 'rxjs';
import { openDevice } from '../lib/index.js';
import { openNativeBackend } from '../lib/native/native-backend.js';
import { createPage, endPage, UndoLog } from '../lib/page.js';
import { emission as emissionOn, time } from './emission.js';

const n = Number(process.argv[2] ?? 200000);
const quick = process.argv.includes('--quick');
const src = new Uint8Array(64).fill(7);

const emission = (pages: number, subscribers: number, ops: number,
  pipe?: Parameters<typeof emissionOn>[4], range?: Parameters<typeof emissionOn>[5]): number =>
  emissionOn(`standin:${pages}`, subscribers, ops, pages, pipe, range);

const device = await openDevice('standin:1');
const ioctlDevice = await openDevice('standin:1', { fastPath: false });
const backend = openNativeBackend('standin:1', false);

function transactions(d: typeof device, bytes = src): () => void {
  return () => {
    for (let i = 0; i < n; i++) {
      d.transaction((page) => {
        bytes[0] = i & 0xff;
        page.set(0, bytes);
      }).subscribe();
    }
  };
}

// ---- P1: transactions and where their time goes --------------------------------
// The fastest of P1_PASSES timed loops, as bench/run.mjs takes for the C loops (noise on a shared host only slows a loop).
const P1_PASSES = 3;
const fastest = (label: string, fn: () => void): number =>
  Math.min(...Array.from({ length: P1_PASSES }, (_, i) => time(`${label} (${i + 1}/${P1_PASSES})`, n, fn)));
const transaction = fastest('device.transaction().subscribe(), fast path', transactions(device));
const transactionIoctl = fastest('device.transaction().subscribe(), fastPath: false', transactions(ioctlDevice));

function lockOnly(fastPath: boolean): () => void {
  return () => {
    for (let i = 0; i < n; i++) {
      backend.tryLock(fastPath);
      backend.unlock(true);
    }
  };
}
const lockFast = time('trylock + unlock, lock word in JS', n, lockOnly(true));
const ffiOnly = time('trylock + unlock through koffi (2 ioctls)', n, lockOnly(false));

const view = new DataView(backend.data.buffer, backend.data.byteOffset, backend.data.byteLength);
// One undo log for every page, as the device keeps one.
const undo = new UndoLog();
function lockAndPage(fastPath: boolean): () => void {
  return () => {
    for (let i = 0; i < n; i++) {
      const a = backend.tryLock(fastPath);
      const page = createPage(backend.data, a.ok && a.ownerDied, 0n, view, undo); // as the device does
      src[0] = i & 0xff;
      page.set(0, src);
      endPage(page, false);
      backend.unlock(true);
    }
  };
}
const fastPage = time('lock word + Page + 64 B write + unlock', n, lockAndPage(true));
const ffiPage = time('trylock + Page + 64 B write + unlock (ioctls)', n, lockAndPage(false));

// Bytes written per transaction.
const bytesPerTxn: Record<string, number> = {};
for (const size of [8, 64, 512, 4096 - 16]) {
  bytesPerTxn[String(size)] = time(`transaction writing ${size} B`, n, transactions(device, new Uint8Array(size)));
}

// ---- P2: what a subscriber receives -------------------------------------------
const snaps = n * 2;
const snapshotEmission = emission(1, 1, snaps);
const snapshot = time('4 KiB seqcount snapshot (backend)', snaps, () => {
  let sink = 0;
  for (let i = 0; i < snaps; i++) sink += backend.snapshot()?.bytes[i & 4095] ?? 0;
  if (sink < 0) console.log(sink);
});
const into = new Uint8Array(backend.size);
const copyOnly = time('4 KiB seqcount copy into a reused buffer', snaps, () => {
  for (let i = 0; i < snaps; i++) backend.copyInto(into);
});

const byPages: Record<string, number> = {};
for (const pages of quick ? [1, 16] : [1, 16, 256, 1024]) {
  byPages[String(pages)] = emission(pages, 1, Math.max(200, Math.floor(snaps / pages / 4)));
}
const bySubscribers: Record<string, number> = {};
for (const k of [1, 10, 100]) bySubscribers[String(k)] = emission(1, k, Math.floor(snaps / k));
// A subscriber reading 8 bytes (select$ of a u64: snapshotRange$(8, 8)) on the largest region, and on one page.
const largest = quick ? 16 : 1024;
const select8 = emission(largest, 1, snaps, (s$) => s$.pipe(map((s) => s.u64(8))), { offset: 8, length: 8 });
const select8OnePage = emission(1, 1, snaps, (s$) => s$.pipe(map((s) => s.u64(8))), { offset: 8, length: 8 });

// ---- P2's runtime floor: Node alone, no library -------------------------------
// What any JS subscriber of an immutable copy pays before a library adds
// anything: fresh memory for a 4 KiB copy of the mapping (each way Node has),
// the same copy into one reused buffer (no fresh memory: not immutable), and
// 8 bytes delivered through bare RxJS (a Subject, map, a subscriber).
const mapped = backend.data.subarray(0, 4096);
let kept: Uint8Array = mapped;
let slab = new ArrayBuffer(0);
let slabUsed = 0;
/** Carves `size` bytes from a 1 MiB slab, as the library does (Buffer.allocUnsafeSlow: no zero-fill). */
const carve = (size: number): Uint8Array => {
  if (slabUsed + size > slab.byteLength) {
    slab = Buffer.allocUnsafeSlow(1 << 20).buffer;
    slabUsed = 0;
  }
  const v = new Uint8Array(slab, slabUsed, size);
  slabUsed += (size + 7) & ~7;
  return v;
};
const freshWays: Record<string, () => Uint8Array> = {
  slab: () => {
    const v = carve(4096);
    v.set(mapped);
    return v;
  },
  typedArray: () => {
    const v = new Uint8Array(4096);
    v.set(mapped);
    return v;
  },
  slice: () => mapped.slice(),
};
const fresh4k = Object.fromEntries(Object.entries(freshWays).map(([way, copy]) => [`${way}Ns`, time(`Node alone: fresh 4 KiB copy (${way})`, snaps, () => {
  for (let i = 0; i < snaps; i++) kept = copy();
})]));
const reused = new Uint8Array(4096);
const reused4kNs = time('Node alone: 4 KiB copy into a reused buffer', snaps, () => {
  for (let i = 0; i < snaps; i++) {
    reused.set(mapped);
    kept = reused;
  }
});
const rx8Ns = ((): number => {
  const word = backend.data.subarray(8, 16);
  const subject = new Subject<Uint8Array>();
  let sink = 0n;
  const sub = subject.pipe(map((b) => new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true)))
    .subscribe((v) => { sink += v; });
  const ns = time('Node alone: 8 B slab copy + Subject + map(u64) + subscriber', snaps, () => {
    for (let i = 0; i < snaps; i++) {
      const v = carve(8);
      v.set(word);
      subject.next(v);
    }
  });
  sub.unsubscribe();
  if (sink < 0n) console.log(sink);
  return ns;
})();
if (kept.length === 0) console.log(kept);

// ---- the JS physical limit: SharedArrayBuffer + Atomics between two threads -----
async function atomicsHandoff(rounds: number): Promise<number> {
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads');
    const w = new Int32Array(workerData.sab);
    for (let i = 0; i < workerData.rounds; i++) {
      while (Atomics.load(w, 0) !== 1) Atomics.wait(w, 0, 0);
      Atomics.store(w, 0, 0);
      Atomics.notify(w, 0, 1);
    }`, { eval: true, workerData: { sab, rounds } });
  await new Promise((r) => setTimeout(r, 50));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    Atomics.store(w, 0, 1);
    Atomics.notify(w, 0, 1);
    while (Atomics.load(w, 0) !== 0) Atomics.wait(w, 0, 1);
  }
  const ns = Number(process.hrtime.bigint() - t0) / (2 * rounds);
  await worker.terminate();
  return ns;
}
const atomicsHandoffNs = await atomicsHandoff(quick ? 2000 : 20000);
const atomicsUncontendedNs = time('Atomics CAS lock + release (one thread)', n, () => {
  const w = new Int32Array(new SharedArrayBuffer(8));
  for (let i = 0; i < n; i++) {
    Atomics.compareExchange(w, 0, 0, 1);
    Atomics.store(w, 0, 0);
  }
});

// ---- P5: memory, steady state ---------------------------------------------------
// After a first round of 100k transactions and 100k snapshots (heap grown,
// slabs recycled), then after three more: a leak shows as growth.
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const round = (): void => {
  for (let i = 0; i < 100000; i++) device.transaction((page) => page.set(64, src)).subscribe();
  for (let i = 0; i < 100000; i++) backend.snapshot();
};
/** After two GCs and a turn between them: ArrayBuffers are freed by a sweeper task. */
const settled = async (): Promise<NodeJS.MemoryUsage> => {
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  return process.memoryUsage();
};
round();
const m0 = await settled();
for (let r = 0; r < (quick ? 1 : 3); r++) round();
const m1 = await settled();

device.close();
ioctlDevice.close();
backend.close();
console.log(JSON.stringify({
  n,
  transactionNs: transaction,
  transactionIoctlNs: transactionIoctl,
  breakdown: {
    lockWordNs: lockFast, ffiNs: ffiOnly, pageNs: fastPage - lockFast, rxjsNs: transaction - fastPage,
    ioctlPathPageNs: ffiPage, ioctlRxjsNs: transactionIoctl - ffiPage,
  },
  bytesPerTxn,
  snapshotEmissionNs: snapshotEmission,
  snapshotNs: snapshot,
  snapshotCopyOnlyNs: copyOnly,
  emissionByPagesNs: byPages,
  emissionBySubscribersNs: bySubscribers,
  select8Ns: { pages: largest, ns: select8, onePageNs: select8OnePage },
  runtimeFloor: { fresh4k, reused4kNs, rx8Ns },
  atomicsHandoffNs,
  atomicsUncontendedNs,
  memory: {
    before: { rss: m0.rss, heapUsed: m0.heapUsed, arrayBuffers: m0.arrayBuffers },
    after: { rss: m1.rss, heapUsed: m1.heapUsed, arrayBuffers: m1.arrayBuffers },
  },
}));
