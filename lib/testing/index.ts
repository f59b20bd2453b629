// SPDX-License-Identifier: MIT
/**
 * kshm/testing: a fake kshm device for your app's tests: the same
 * {@link Device} API in pure TypeScript, with no kernel module, root or
 * guest, plus a `kernel` handle that plays the kernel's part. Time goes
 * through an RxJS scheduler, so marble tests under `TestScheduler.run` are
 * deterministic. The fake and the real driver pass one contract suite.
 *
 * @example
 * ```ts
 * import { TestScheduler } from 'rxjs/testing';
 * import { createFakeDevice } from 'kshm/testing';
 *
 * new TestScheduler((a, b) => assert.deepEqual(a, b)).run(({ expectObservable }) => {
 *   const fake = createFakeDevice();            // picks up the TestScheduler
 *   fake.kernel.setTickMs(10);
 *   expectObservable(fake.select$((s) => s.tick().count), '^ 35ms !').toBe('a 9ms b 9ms c 9ms d', {
 *     a: 0n, b: 1n, c: 2n, d: 3n,
 *   });
 * });
 * ```
 * @module
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { checkWrite } from '../bytes.js';
import { KshmDevice } from '../device.js';
import type { Device } from '../types.js';
import { FakeBackend } from './fake-backend.js';
import { FakeRegion } from './fake-region.js';

/** The kernel's side of a fake device. */
export interface FakeKernel {
  /** Writes `bytes` at `offset` from the kernel and commits (the lock must be free). Returns the generation. */
  write(offset: number, bytes: ArrayLike<number>): bigint;
  /** The kernel takes the lock (it must be free): user transactions now wait, and can time out. */
  hold(): void;
  /** The kernel releases the lock it holds (commit by default). */
  release(commit?: boolean): void;
  /**
   * The current holder dies mid-transaction: the lock passes on, and the
   * next holder's page reports `ownerDied` until someone commits.
   */
  killHolder(): void;
  /** One tick of the kernel ticker, now. Returns false when skipped (lock held). */
  tick(): boolean;
  /** Runs the ticker every `ms` of scheduler time (0 stops it), like the driver's tick_ms. */
  setTickMs(ms: number): void;
  /** Commits so far. */
  readonly generation: bigint;
  /** The raw shared bytes (what the kernel sees). */
  readonly data: Uint8Array;
}

/** A fake device: a {@link Device}, its kernel, and more openers of the same region. */
export interface FakeDevice extends Device {
  readonly kernel: FakeKernel;
  /** Another opener of the same shared region, as another process would be. */
  open(options?: { readOnly?: boolean; fastPath?: boolean }): Device;
}

/** Options of {@link createFakeDevice}. */
export interface FakeDeviceOptions {
  /** Data pages of 4096 bytes (1..1024, default 1). */
  pages?: number;
  /**
   * The scheduler for timeouts, ticks and asynchronous callbacks. Default:
   * RxJS's asyncScheduler, which TestScheduler.run() replaces with virtual
   * time.
   */
  scheduler?: SchedulerLike;
  /** Open the first device read-only. */
  readOnly?: boolean;
}

class FakeKshmDevice extends KshmDevice implements FakeDevice {
  constructor(backend: FakeBackend, scheduler: SchedulerLike, readonly kernel: FakeKernel,
    readonly open: (options?: { readOnly?: boolean; fastPath?: boolean }) => Device) {
    super(backend, { scheduler });
  }
}

/**
 * Creates a fake kshm device backed by a fresh zeroed region.
 *
 * @example
 * ```ts
 * const fake = createFakeDevice({ pages: 2 });
 * fake.kernel.write(0, [1, 2, 3]);
 * fake.snapshots$.subscribe((s) => console.log(s.generation, s.u8(2))); // 1n 3
 * ```
 */
export function createFakeDevice(options: FakeDeviceOptions = {}): FakeDevice {
  const scheduler = options.scheduler ?? asyncScheduler;
  const region = new FakeRegion(options.pages ?? 1, scheduler);
  const openOne = (readOnly: boolean, fastPath = true): KshmDevice =>
    new KshmDevice(new FakeBackend(region, 'fake:kshm', readOnly), { scheduler, fastPath });
  const kernel: FakeKernel = {
    write: (offset, bytes) => {
      const data = Uint8Array.from(bytes);
      checkWrite(offset, data.length, region.size);
      return region.kernelWrite(offset, data);
    },
    hold: () => {
      const r = region.tryLock(region.kernel);
      if (r.errno) throw new Error('the lock is not free: the kernel cannot hold it now');
    },
    release: (commit = true) => {
      if (region.unlock(region.kernel, commit)) throw new Error('the kernel does not hold the lock');
    },
    killHolder: () => region.killHolder(),
    tick: () => region.tick(),
    setTickMs: (ms) => region.setTickMs(ms),
    get generation() { return region.generation; },
    get data() { return region.data; },
  };
  return new FakeKshmDevice(new FakeBackend(region, 'fake:kshm', options.readOnly ?? false), scheduler,
    kernel, (o) => openOne(o?.readOnly ?? false, o?.fastPath ?? true));
}

export { FakeRegion } from './fake-region.js';
export { FakeBackend } from './fake-backend.js';
