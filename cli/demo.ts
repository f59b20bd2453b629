#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// The npm start dashboard: a small reactive app built only on kshm's public
// API. The kernel ticker commits, two writers (two open devices, as two
// processes would be) move money between two accounts under the lock, and a
// reader checks on every snapshot that no money appears or vanishes.
//
// The data is described once, by a typed layout (BOOKS below): every read
// and write goes through it, by name.
import { readFile, writeFile } from 'node:fs/promises';
import { auditTime, filter, interval, lastValueFrom, map, scan, type Subscription } from 'rxjs';
import { defineLayout, KshmError, openDevice, transact, type Device, type Page, type Snapshot } from '../lib/index.js';
import { DEMO_USAGE, parseDemoArgs, type DemoArgs } from './demo-args.js';
import { holderText } from './format.js';

const TICK_PARAM = '/sys/module/kshm/parameters/tick_ms';
const TOTAL = 1000n;

/** The shared books: A + B = TOTAL after every commit. */
const BOOKS = defineLayout({
  alpha: { at: 0, type: 'u32' },            // alpha's transfers
  beta: { at: 4, type: 'u32' },             // beta's transfers
  a: { at: 8, type: 'i64' },                // account A
  b: { at: 16, type: 'i64' },               // account B
  lastWriter: { at: 24, type: 'utf8', length: 24 },
});
type Account = 'a' | 'b';

let args: DemoArgs;
try {
  args = parseDemoArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`demo: ${(e as Error).message}\n${DEMO_USAGE}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${DEMO_USAGE}\n`);
  process.exit(0);
}
const { durationS, device: path } = args;
const tty = process.stdout.isTTY === true;

function transfer(name: 'alpha' | 'beta', from: Account, to: Account) {
  return (page: Page, amount: number): bigint => {
    let books = page.read(BOOKS);
    if (books.a + books.b !== TOTAL) {
      // First run, or a writer died mid-transfer: repair the books.
      page.write(BOOKS, { a: TOTAL, b: 0n });
      books = page.read(BOOKS);
    }
    const move = BigInt(amount) > books[from] ? books[from] : BigInt(amount);
    page.write(BOOKS, {
      [from]: books[from] - move,
      [to]: books[to] + move,
      [name]: (books[name] + 1) >>> 0,
      lastWriter: name,
    });
    return move;
  };
}

interface Stats { snapshots: number; balanced: number; broken: number; last?: Snapshot; times: number[] }

function render(device: Device, st: Stats, tickOn: boolean, started: number): string {
  const s = st.last;
  const info = device.info();
  const now = Date.now();
  const rate = st.times.filter((t) => t > now - 1000).length;
  if (!s) return 'waiting for the first snapshot...';
  const books = s.read(BOOKS);
  const rows = [
    `kshm demo on ${path}   ${((now - started) / 1000).toFixed(1)} s   (Ctrl-C to stop)`,
    '',
    `generation        ${s.generation}   (${rate} commits/s seen)`,
    `kernel ticker     ${tickOn ? `tick ${s.tick().count}` : 'off (writing tick_ms needs root)'}`,
    `alpha transfers   ${books.alpha}`,
    `beta transfers    ${books.beta}`,
    `accounts          A ${books.a}  B ${books.b}  sum ${books.a + books.b}`,
    `last writer       ${books.lastWriter || '-'}`,
    `snapshots         ${st.snapshots} checked, ${st.balanced} balanced, ${st.broken} broken`,
    `lock              ${holderText(info)}, ${info.waiters} waiting`,
    `lock statistics   ${info.counters.locksGranted} granted, ${info.counters.locksContended} contended, `
      + `${info.counters.lockTimeouts} timeouts, ${info.counters.ownerDied} owner-died`,
    `kernel            ${info.counters.ticks} ticks, ${info.counters.ticksSkipped} skipped, ${info.counters.kernelWrites} kernel writes`,
  ];
  return rows.join('\n');
}

async function main(): Promise<number> {
  const started = Date.now();
  const reader = await openDevice(path, { readOnly: true });
  const alpha = await openDevice(path);
  const beta = await openDevice(path);
  let oldTick: string | undefined;
  let tickOn = false;
  try {
    oldTick = (await readFile(TICK_PARAM, 'utf8')).trim();
    await writeFile(TICK_PARAM, args.tickMs);
    tickOn = true;
  } catch {
    tickOn = false;
  }
  console.log(`kshm demo on ${path}${Number.isFinite(durationS) ? ` for ${durationS} s` : ''} (Ctrl-C to stop)`);
  // Open the books: from this commit on, every snapshot must balance.
  const opened = await lastValueFrom(alpha.transaction((page) => {
    page.fill(0, 0, BOOKS.size);
    page.write(BOOKS, { a: TOTAL });
    return page.generation + 1n;
  }));
  const subs: Subscription[] = [];
  const amounts = (ms: number) => interval(ms).pipe(map(() => 1 + Math.floor(Math.random() * 50)));
  subs.push(amounts(37).pipe(transact(alpha, transfer('alpha', 'a', 'b'))).subscribe());
  subs.push(amounts(53).pipe(transact(beta, transfer('beta', 'b', 'a'))).subscribe());
  const stats$ = reader.snapshots$.pipe(filter((s) => s.generation >= opened), scan((st: Stats, s: Snapshot) => {
    st.snapshots++;
    const { a, b } = s.read(BOOKS);
    if (a + b === TOTAL) st.balanced++;
    else st.broken++;
    st.last = s;
    st.times.push(Date.now());
    if (st.times.length > 2000) st.times.splice(0, 1000);
    return st;
  }, { snapshots: 0, balanced: 0, broken: 0, times: [] }));
  let final: Stats | undefined;
  const done = new Promise<void>((resolve, reject) => {
    subs.push(stats$.pipe(auditTime(tty ? 100 : 1000)).subscribe({
      next: (st) => {
        final = st;
        if (tty) process.stdout.write(`\x1b[H\x1b[2J${render(reader, st, tickOn, started)}\n`);
        else {
          const s = st.last as Snapshot;
          const books = s.read(BOOKS);
          console.log(`generation ${s.generation} alpha ${books.alpha} beta ${books.beta} A ${books.a} B ${books.b} `
            + `snapshots ${st.snapshots} broken ${st.broken}${tickOn ? ` tick ${s.tick().count}` : ''}`);
        }
      },
      error: reject,
    }));
    if (Number.isFinite(durationS)) setTimeout(resolve, durationS * 1000);
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  try {
    await done;
  } finally {
    for (const s of subs) s.unsubscribe();
    if (tickOn && oldTick !== undefined) await writeFile(TICK_PARAM, oldTick).catch(() => {});
    const last = final?.last;
    alpha.close();
    beta.close();
    reader.close();
    console.log(`\nstopped: ${final?.snapshots ?? 0} snapshots checked, ${final?.broken ?? 0} broken`
      + `${last ? `, generation ${last.generation}` : ''}`);
  }
  return final && final.broken > 0 ? 1 : 0;
}

process.exitCode = await main().catch((e: unknown) => {
  if (!(e instanceof KshmError)) throw e;
  process.stderr.write(`demo: ${e.message}\n`); // no device, no permission: the message says what to do
  return 1;
});
