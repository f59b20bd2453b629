// EVENTS against the driver (loaded with ring=4096): a node subscriber of
// device.events$() fed by spec/kmod/kshm_events_test.ko's hrtimer, which
// emits in hardirq context: 10,000 records/s for 10 s all received in order
// with lostBefore 0 (a run the host starved of CPU for longer than the ring
// lasts is run again), and a subscriber stalled for 2 s told exactly how many
// records it lost, then every later one.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { firstValueFrom, timeout, type Subscription } from 'rxjs';
import { EventRecord, openDevice, type Device } from '../../lib/index.js';

const test = suite('events: node subscribers of the hardirq producer');
// The debug kernel (KASAN, lockdep: KSHM_TIME_SCALE=4) runs everything several
// times slower: the producer runs that much slower and the stall that much
// longer, so each test means the same there (every record; one exact overrun).
const scale = Number(process.env['KSHM_TIME_SCALE'] ?? 1);
const RATE = Math.round(10000 / scale);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PARAMS = '/sys/module/kshm_events_test/parameters';
const opened: Device[] = [];

function busybox(...args: string[]): void {
  const bb = existsSync('/kshm/busybox') ? ['/kshm/busybox', ...args] : args;
  const r = spawnSync(bb[0] as string, bb.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${bb.join(' ')}: ${r.stderr}`);
}

function loadProducer(rateHz: number): void {
  const series = process.env['KSHM_KERNEL'] ?? '6.12';
  const ko = fileURLToPath(new URL(`../../../build/kmod/${series}/kshm_events_test.ko`, import.meta.url));
  busybox('insmod', ko, `rate_hz=${rateHz}`);
}

function unloadProducer(): void {
  if (existsSync(PARAMS)) busybox('rmmod', 'kshm_events_test');
}

const param = (name: string): number => Number(readFileSync(`${PARAMS}/${name}`, 'utf8'));
const setRate = (hz: number): void => writeFileSync(`${PARAMS}/rate_hz`, String(hz));

test.after.each(() => {
  for (const d of opened.splice(0)) d.close();
  unloadProducer();
});

/** Follows the type-1 records: seq contiguous, lostBefore as given, counters in step with seq. */
class Follower {
  count = 0;
  lost = 0;
  gaps: EventRecord[] = [];
  last: EventRecord | undefined;
  problems: string[] = [];

  see(e: EventRecord): void {
    if (e.type !== 1) {
      this.problems.push(`type ${e.type}`);
      return;
    }
    const prev = this.last;
    if (prev) {
      if (e.seq !== prev.seq + 1n + BigInt(e.lostBefore)) this.problems.push(`seq ${e.seq} after ${prev.seq} lost ${e.lostBefore}`);
      if (e.u64(0) !== prev.u64(0) + 1n + BigInt(e.lostBefore)) this.problems.push(`counter ${e.u64(0)} after ${prev.u64(0)}`);
      if (e.timeNs < prev.timeNs) this.problems.push('time went back');
    } else if (e.u64(0) !== 0n) {
      this.problems.push(`first counter ${e.u64(0)}`);
    }
    if (e.lostBefore) this.gaps.push(e);
    this.lost += e.lostBefore;
    this.count++;
    this.last = e;
  }
}

/**
 * The longest time the event loop went without running a 5 ms timer, from now
 * until stop(): what this process was denied (a loaded host deschedules a TCG
 * guest's vCPUs for hundreds of ms) or spent in one go.
 */
function loopStalls(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const beat = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  return { stop: () => { clearInterval(beat); return Math.max(worst, performance.now() - last); } };
}

/** One 10 s run of the producer at RATE under one subscriber. */
async function tenSeconds(): Promise<{ f: Follower; emitted: number; stallMs: number }> {
  const d = await openDevice();
  opened.push(d);
  const f = new Follower();
  const sub: Subscription = d.events$().subscribe((e) => f.see(e));
  await sleep(50);
  const i0 = d.info().ring;
  const stalls = loopStalls();
  loadProducer(RATE);
  await sleep(10000);
  setRate(0);
  const emitted = param('timer_emitted');
  // Then every record emitted is read or counted lost once the subscriber has
  // caught up: an event loop the host stalled (a loaded 2-core host once kept it
  // from running for the whole 10 s) gets up to 10 s more to get there, then
  // 500 ms in which nothing more may come.
  for (const until = Date.now() + 10000; f.count + f.lost < emitted && Date.now() < until;) await sleep(50);
  await sleep(500);
  const stallMs = stalls.stop();
  sub.unsubscribe();
  const i1 = d.info().ring;
  const wakeups = (i1?.wakeups ?? 0) - (i0?.wakeups ?? 0);
  console.log(`    ${f.count} received of ${emitted} emitted, ${f.lost} lost, `
    + `${wakeups} wake-ups (${(wakeups / Math.max(1, f.count)).toFixed(3)} per record), `
    + `the event loop stalled ${stallMs.toFixed(0)} ms at worst`);
  d.close();
  opened.splice(opened.indexOf(d), 1);
  unloadProducer();
  return { f, emitted, stallMs };
}

test('10,000 records/s from the hrtimer for 10 s: every one, contiguous, lostBefore 0', async () => {
  // The ring holds this many ms of records: a subscriber loses some only if its
  // event loop does not run for that long. A run with a loss and such a stall
  // (the host did not run the guest) is run again, up to 3 runs; a loss without
  // one fails at once, and so does a loss in every run.
  const ringMs = (4096 / RATE) * 1000;
  for (let run = 1; ; run++) {
    const { f, emitted, stallMs } = await tenSeconds();
    assert.equal(f.problems, []);
    assert.is(f.count + f.lost, emitted, 'every record read or counted lost');
    assert.ok(emitted >= 50000 / scale, `the timer emitted ${emitted}`);
    if (f.lost === 0) {
      assert.is(f.count, emitted);
      return;
    }
    const excused = stallMs >= ringMs && run < 3;
    if (!excused) {
      assert.is(f.lost, 0, `${f.lost} lost in run ${run}, the event loop stalled ${stallMs.toFixed(0)} ms at worst `
        + `(the ring holds ${ringMs.toFixed(0)} ms)`);
    }
    console.log(`    run ${run}: ${f.lost} lost while the event loop stalled ${stallMs.toFixed(0)} ms `
      + `(the ring holds ${ringMs.toFixed(0)} ms): once more`);
  }
});

test('a subscriber stalled for 2 s: lostBefore is exactly what was overwritten, then every record', async () => {
  const d = await openDevice();
  opened.push(d);
  const f = new Follower();
  let stalled = false;
  let resumed = false;
  let stallSeq = -1n;
  const sub = d.events$().subscribe((e) => {
    f.see(e);
    if (!stalled && f.count === 2000) {
      stalled = true;
      stallSeq = e.seq;
      const until = Date.now() + 2000 * scale;
      while (Date.now() < until) { /* the event loop is stuck: nothing is read */ }
      // The producer pauses while the reader catches up: a reader just behind a full
      // ring loses again at the next hiccup (a loaded host), which is not this test's point.
      setRate(0);
    }
  });
  await sleep(50);
  loadProducer(RATE);
  while (!stalled) await sleep(50);
  const caughtUp = async (): Promise<void> => {
    const until = Date.now() + 10000 * scale;
    while (f.last?.u64(0) !== BigInt(param('timer_emitted') - 1) && Date.now() < until) await sleep(20);
  };
  await caughtUp();
  const afterStallCount = f.count;
  // Then every record: a second at the full rate.
  setRate(RATE);
  resumed = true;
  await sleep(1000 * scale);
  setRate(0);
  const emitted = param('timer_emitted');
  await caughtUp();
  sub.unsubscribe();
  console.log(`    ${f.count} received of ${emitted}, lost ${f.gaps.map((g) => g.lostBefore).join(', ')}, `
    + `${f.count - afterStallCount} after the stall`);
  assert.ok(resumed);
  assert.equal(f.problems, []);
  assert.is(f.gaps.length, 1, 'one gap, after the stall');
  assert.ok((f.gaps[0]?.seq ?? 0n) > stallSeq, 'the gap came after the stall');
  assert.ok((f.gaps[0]?.lostBefore ?? 0) > 4096, 'the ring went round during the stall');
  assert.is(f.count + f.lost, emitted, 'every record read or counted lost');
  assert.is(f.last?.u64(0), BigInt(emitted - 1), 'up to the last one');
  assert.ok(f.count - afterStallCount >= 5000 / scale, `${f.count - afterStallCount} records after the stall`);
});

test('a device opened at /dev/kshm/default reads its ring after the node moved back to /dev/kshm', async () => {
  // A named region (the sample module's) moves the default region's node to /dev/kshm/default, its unload back.
  const series = process.env['KSHM_KERNEL'] ?? '6.12';
  const sample = fileURLToPath(new URL(`../../../build/sample/${series}/kshm_sample.ko`, import.meta.url));
  busybox('insmod', sample, 'period_ms=1000');
  let loaded = true;
  try {
    const device = await openDevice('/dev/kshm/default');
    opened.push(device);
    busybox('rmmod', 'kshm_sample');
    loaded = false;
    assert.not.ok(existsSync('/dev/kshm/default'));
    const next = firstValueFrom(device.events$().pipe(timeout(10000 * scale))).then((e) => e, (e: unknown) => e);
    const seq = device.emit(9, [1, 2]);
    const got = await next;
    assert.instance(got, EventRecord, String(got));
    assert.is((got as EventRecord).seq, seq);
    assert.is((got as EventRecord).type, 9);
  } finally {
    if (loaded) busybox('rmmod', 'kshm_sample');
  }
});

test.run();
