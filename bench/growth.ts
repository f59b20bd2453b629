// Growth with the region size, in a guest booted with the module parameter
// pages=N (bench/run.mjs --pages): per commit, what a snapshots$ subscriber
// costs, what a select$ of 8 bytes costs, a 64-byte transaction, and C's
// malloc + seqcount memcpy of the region. Prints one JSON object (µs).
import { spawnSync } from 'node:child_process';
import { lastValueFrom, map, range } from 'rxjs';
import { fileURLToPath } from 'node:url';
import { openDevice, transact } from '../lib/index.js';
import { emission, time } from './emission.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const d = await openDevice('/dev/kshm');
const pages = d.info().pages;
const ops = Math.max(50, Math.floor(4000 / pages));
const emissionUs = emission('/dev/kshm', 1, ops, pages) / 1e3;
const select8Us = emission('/dev/kshm', 1, 2000, pages, (s$) => s$.pipe(map((s) => s.u64(8))), { offset: 8, length: 8 }) / 1e3;
const src = new Uint8Array(64);
const txns = 2000;
const transactionUs = time('transaction 64 B', txns, () => {
  range(0, txns).pipe(transact(d, (page) => page.set(0, src))).subscribe();
}) / 1e3;
await lastValueFrom(d.transaction(() => 0));
d.close();
const c = spawnSync(`${root}build/bench/baseline`, ['snapshot-malloc', String(ops), String(pages)], { encoding: 'utf8' });
const cLine = c.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}';
const cSnapshotUs = (JSON.parse(cLine) as { nsPerOp?: number }).nsPerOp! / 1e3;
console.log(JSON.stringify({ pages, ops, emissionUs, select8Us, transactionUs, cSnapshotUs }));
