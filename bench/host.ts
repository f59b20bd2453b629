// Host benchmarks: the library's own cost, over libkshm's stand-in build
// (an anonymous shared mapping; each LOCK/UNLOCK is one ioctl FIONREAD on a
// pipe, a syscall of about the driver's weight). Transactions run on both
// lock paths: the lock-word fast path (no syscall) and fastPath: false (the
// ioctls). Run by bench/run.mjs with KSHM_LIBRARY pointing at
// native-shim/libkshm-standin.so. Prints one JSON object.
import { openDevice } from '../lib/index.js';
import { openNativeBackend } from '../lib/native/native-backend.js';
import { createPage, endPage } from '../lib/page.js';

const n = Number(process.argv[2] ?? 200000);
const src = new Uint8Array(64).fill(7);

function time(label: string, ops: number, fn: () => void): number {
  fn(); // warm-up pass, same size: lets the JIT settle
  const t0 = process.hrtime.bigint();
  fn();
  const ns = Number(process.hrtime.bigint() - t0) / ops;
  process.stderr.write(`${label}: ${ns.toFixed(1)} ns/op\n`);
  return ns;
}

const device = await openDevice('standin:1');
const ioctlDevice = await openDevice('standin:1', { fastPath: false });
const backend = openNativeBackend('standin:1', false);

function transactions(d: typeof device): () => void {
  return () => {
    for (let i = 0; i < n; i++) {
      d.transaction((page) => {
        src[0] = i & 0xff;
        page.set(0, src);
      }).subscribe();
    }
  };
}

const transaction = time('device.transaction().subscribe(), fast path', n, transactions(device));
const transactionIoctl = time('device.transaction().subscribe(), fastPath: false', n, transactions(ioctlDevice));

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
function lockAndPage(fastPath: boolean): () => void {
  return () => {
    for (let i = 0; i < n; i++) {
      const a = backend.tryLock(fastPath);
      const page = createPage(backend.data, a.ok && a.ownerDied, 0n, view); // as the device does
      src[0] = i & 0xff;
      page.set(0, src);
      endPage(page, false);
      backend.unlock(true);
    }
  };
}
const fastPage = time('lock word + Page + 64 B write + unlock', n, lockAndPage(true));
const ffiPage = time('trylock + Page + 64 B write + unlock (ioctls)', n, lockAndPage(false));

const snaps = n * 5;
const snapshot = time('4 KiB seqcount snapshot (backend)', snaps, () => {
  let sink = 0;
  for (let i = 0; i < snaps; i++) sink += backend.snapshot()?.bytes[i & 4095] ?? 0;
  if (sink < 0) console.log(sink);
});

const into = new Uint8Array(backend.size);
const copyOnly = time('4 KiB seqcount copy into a reused buffer', snaps, () => {
  for (let i = 0; i < snaps; i++) backend.copyInto(into);
});

// Memory: steady state. RSS after a first round of 100k transactions and
// 100k snapshots (heap grown, slabs recycled), then after three more: a
// leak shows as growth between the two.
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const round = (): void => {
  for (let i = 0; i < 100000; i++) device.transaction((page) => page.set(64, src)).subscribe();
  for (let i = 0; i < 100000; i++) backend.snapshot();
  gc();
};
round();
const rss0 = process.memoryUsage().rss;
const heap0 = process.memoryUsage().heapUsed;
for (let r = 0; r < 3; r++) round();
const rss1 = process.memoryUsage().rss;
const heap1 = process.memoryUsage().heapUsed;

device.close();
ioctlDevice.close();
backend.close();
console.log(JSON.stringify({
  n,
  transactionNs: transaction,
  transactionIoctlNs: transactionIoctl,
  breakdown: {
    lockWordNs: lockFast, ffiNs: ffiOnly, pageNs: fastPage - lockFast, rxjsNs: transaction - fastPage,
    ioctlPathPageNs: ffiPage,
  },
  snapshotNs: snapshot,
  snapshotCopyOnlyNs: copyOnly,
  rssBeforeMiB: rss0 / 2 ** 20,
  rssAfterMiB: rss1 / 2 ** 20,
  heapBeforeMiB: heap0 / 2 ** 20,
  heapAfterMiB: heap1 / 2 ** 20,
}));
