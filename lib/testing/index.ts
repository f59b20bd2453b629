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
import { AsyncSubject, asyncScheduler, type Observable, type SchedulerLike } from 'rxjs';
import { constants } from 'node:os';
import { checkWrite, toBytes } from '../bytes.js';
import { KshmDevice } from '../device.js';
import { EV_MAX_DATA } from '../abi.js';
import { DeviceNotFoundError, LockBusyError, LockTimeoutError, lockError, NoRingError } from '../errors.js';
import type { DeviceEntry } from '../list-devices.js';
import type { OpenDeviceOptions } from '../open-device.js';
import type { Device, KernelWriteOptions } from '../types.js';
import { FakeBackend } from './fake-backend.js';
import { FakeRegion } from './fake-region.js';
import { FakeRing } from './fake-ring.js';

const E = constants.errno;
const DEFAULT_REGION = 'default';

/** The kernel's side of a fake device. */
export interface FakeKernel {
  /**
   * The kernel writes `bytes` at `offset` and commits, as the driver's
   * kernel writer does: at once when the lock is free, else it queues for
   * the lock (FIFO, like any party) for up to `timeoutMs` (default 1000;
   * 0: try once). The write starts when called (the kernel acts on its own;
   * subscribing is only to hear the result); the returned observable
   * emits the new generation and completes, or errors like
   * `device.kernelWrite`: RangeError (out of bounds, a value not a byte), LockTimeoutError,
   * LockBusyError (timeoutMs 0).
   *
   * @example
   * ```ts
   * const fake = createFakeDevice();
   * fake.kernel.write(0, [1, 2, 3]).subscribe((generation) => console.log(generation)); // 1n
   * ```
   */
  write(offset: number, bytes: ArrayLike<number>, options?: KernelWriteOptions): Observable<bigint>;
  /** The kernel takes the lock (it must be free): user transactions now wait, and can time out. */
  hold(): void;
  /** The kernel releases the lock it holds (commit by default). */
  release(commit?: boolean | undefined): void;
  /**
   * The current holder dies mid-transaction: the lock passes on, and the
   * next holder's page reports `ownerDied` until someone commits. A user
   * lease that held it ends (`active` false, its page throws
   * LeaseEndedError, its subscriber gets LeaseEndedError). Its writes were
   * staged, so the data stays as last committed (as after a real process
   * that died with a staged lease, unless it died mid-publish); an in-place
   * holder's writes stay, as a dead process's would.
   */
  killHolder(): void;
  /** One tick of the kernel ticker, now. Returns false when skipped (lock held). */
  tick(): boolean;
  /**
   * Runs the ticker every `ms` of scheduler time (0 stops it), like the
   * driver's tick_ms. It never keeps a virtual clock running by itself: a
   * timer runs only while something watches commits (snapshots$), so
   * `TestScheduler.run` ends once those subscriptions end.
   */
  setTickMs(ms: number): void;
  /**
   * EVENTS: kernel code publishes a record in the ring (as `kshm_emit()`
   * does in the driver, from any context): never waits, overwrites the
   * oldest record when the ring is full, and returns the record's seq.
   * Subscribers of `events$()` get it on the next scheduler turn (one batch
   * per wake-up). RangeError for a type that is not a u32 or more than 104
   * bytes; {@link NoRingError} when the fake was made without `ring`.
   *
   * @example
   * ```ts
   * const fake = createFakeDevice({ ring: 64 });
   * fake.events$().subscribe((e) => console.log(e.seq, e.type, e.u64(0))); // 0n 1 42n
   * fake.kernel.emit(1, new Uint8Array(new BigUint64Array([42n]).buffer));
   * ```
   */
  emit(type: number, bytes?: ArrayLike<number>): bigint;
  /** Commits so far. */
  readonly generation: bigint;
  /**
   * The reader seqcount (struct kshm_ctrl.seq): odd only while someone
   * writes the data in place or publishes; even for the whole of a staged
   * lease or async transaction.
   */
  readonly seq: number;
  /** The raw shared bytes (what the kernel sees). */
  readonly data: Uint8Array;
}

/** A fake device: a {@link Device}, its kernel, and more openers of the same region. */
export interface FakeDevice extends Device {
  readonly kernel: FakeKernel;
  /** Another opener of the same shared region, as another process would be. */
  open(options?: FakeOpenOptions): Device;
}

/** Options of {@link FakeDevice.open}. */
export interface FakeOpenOptions {
  /** Open read-only: snapshots only. */
  readOnly?: boolean | undefined;
  /** The default of `fastPath` for this opener's transactions and leases (default true). */
  fastPath?: boolean | undefined;
}

/** Options of {@link createFakeDevice}. */
export interface FakeDeviceOptions {
  /** Data pages of 4096 bytes (1..1024, default 1). */
  pages?: number | undefined;
  /**
   * The scheduler for timeouts, ticks and asynchronous callbacks. Default:
   * RxJS's asyncScheduler, which TestScheduler.run() replaces with virtual
   * time.
   */
  scheduler?: SchedulerLike | undefined;
  /** Open the first device read-only. */
  readOnly?: boolean | undefined;
  /** The default of `fastPath` for the first device's transactions and leases (default true). */
  fastPath?: boolean | undefined;
  /**
   * The region's name, as a named region of the driver has (its device's
   * `path` is then `fake:kshm/NAME`); default: the default region. For
   * several regions that an app finds with `listDevices` and opens by path,
   * see {@link createFakeKshm}.
   */
  name?: string | undefined;
  /**
   * EVENTS: records in the region's ring (a power of two from 1 to 65536),
   * as the driver's `ring=N`; default none (`events$` and `emit` then fail
   * with NoRingError, as on a driver loaded without a ring).
   */
  ring?: number | undefined;
}

class FakeKshmDevice extends KshmDevice implements FakeDevice {
  constructor(backend: FakeBackend, scheduler: SchedulerLike, fastPath: boolean, readonly kernel: FakeKernel,
    readonly open: (options?: FakeOpenOptions) => Device) {
    super(backend, { scheduler, fastPath });
  }
}

/**
 * Creates a fake kshm device backed by a fresh zeroed region.
 *
 * @example
 * ```ts
 * const fake = createFakeDevice({ pages: 2 });
 * fake.kernel.write(0, [1, 2, 3]);                    // written at once: the lock is free
 * fake.snapshots$.subscribe((s) => console.log(s.generation, s.u8(2))); // 1n 3
 * ```
 */
export function createFakeDevice(options: FakeDeviceOptions = {}): FakeDevice {
  if (options.name !== undefined) checkRegionName(options.name);
  const scheduler = options.scheduler ?? asyncScheduler;
  const region = fakeRegion(options, scheduler);
  return fakeDeviceOn(region, scheduler, options.name === undefined ? 'fake:kshm' : `fake:kshm/${options.name}`,
    options.readOnly ?? false, options.fastPath ?? true);
}

/** A region of `pages` (default 1) with a ring of `ring` records when given, as the driver makes one. */
function fakeRegion(o: { pages?: number | undefined; ring?: number | undefined }, scheduler: SchedulerLike): FakeRegion {
  const region = new FakeRegion(o.pages ?? 1, scheduler);
  if (o.ring !== undefined) region.ring = new FakeRing(o.ring, scheduler);
  return region;
}

/** A fake device over an existing region, with its kernel handle. */
function fakeDeviceOn(region: FakeRegion, scheduler: SchedulerLike, path: string, readOnly: boolean,
  fastPath: boolean): FakeDevice {
  const openOne = (ro: boolean, fast = true): KshmDevice =>
    new KshmDevice(new FakeBackend(region, path, ro), { scheduler, fastPath: fast });
  const kernel: FakeKernel = {
    write: (offset, bytes, options) => {
      const result = new AsyncSubject<bigint>();
      try {
        const data = toBytes(bytes);
        checkWrite(offset, data.length, region.size);
        const ms = options?.timeoutMs ?? 1000;
        if (!Number.isInteger(ms) || ms < 0 || ms > 0xffffffff) {
          throw new RangeError(`timeoutMs must be a whole number from 0 (try once) to 4294967295, got ${ms}`);
        }
        region.kernelWrite(offset, data, ms === 0 ? -1 : ms, (errno, generation) => {
          if (errno === 0) {
            result.next(generation);
            result.complete();
          } else if (ms === 0 && errno === E.EBUSY) {
            result.error(new LockBusyError());
          } else {
            result.error(errno === E.ETIMEDOUT ? new LockTimeoutError(ms) : lockError(errno, 'KWRITE', ms));
          }
        });
      } catch (e) {
        result.error(e);
      }
      return result.asObservable();
    },
    hold: () => {
      region.sync();
      const r = region.tryLock(region.kernel);
      if (r.errno) throw new Error('the lock is not free: the kernel cannot hold it now');
    },
    release: (commit = true) => {
      region.sync();
      if (region.unlock(region.kernel, commit)) throw new Error('the kernel does not hold the lock');
    },
    killHolder: () => {
      region.sync();
      region.killHolder();
    },
    emit: (type, bytes = []) => {
      if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) {
        throw new RangeError(`a record type is a u32 (0 to 4294967295), got ${type}`);
      }
      const data = toBytes(bytes);
      if (data.length > EV_MAX_DATA) throw new RangeError(`a record carries at most ${EV_MAX_DATA} bytes, got ${data.length}`);
      if (!region.ring) throw new NoRingError();
      return region.ring.emit(type, data, false);
    },
    tick: () => region.tick(),
    setTickMs: (ms) => region.setTickMs(ms),
    get generation() {
      region.sync();
      return region.generation;
    },
    get seq() {
      region.sync();
      return region.seq;
    },
    get data() {
      region.sync();
      return region.data;
    },
  };
  return new FakeKshmDevice(new FakeBackend(region, path, readOnly), scheduler,
    fastPath, kernel, (o) => openOne(o?.readOnly ?? false, o?.fastPath ?? true));
}

/** A region name as the driver takes it (REGIONS in the uapi header), or a RangeError. */
function checkRegionName(name: string): void {
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(name)) {
    throw new RangeError(`a region name is 1 to 32 of [a-z0-9_-], starting with a letter or digit, got "${name}"`);
  }
}

/** Options of {@link createFakeKshm}. */
export interface FakeKshmOptions {
  /** The default region's data pages (1..1024, default 1). */
  pages?: number | undefined;
  /** The default region's event ring, as in {@link FakeDeviceOptions.ring} (the driver's `ring=N`). */
  ring?: number | undefined;
  /** The scheduler, as in {@link FakeDeviceOptions.scheduler}. */
  scheduler?: SchedulerLike | undefined;
}

/** Options of {@link FakeKshm.createRegion}. */
export interface FakeRegionOptions {
  /** Data pages (1..1024, default 1). */
  pages?: number | undefined;
  /** Records in its event ring, as in {@link FakeDeviceOptions.ring} (`regions=NAME:PAGES:ring=N`). */
  ring?: number | undefined;
}

/**
 * A fake of the whole driver: the default region and named regions that a
 * kernel module (the test) creates and destroys, found and opened the way
 * an app does with the real package's `listDevices` and `openDevice`.
 */
export interface FakeKshm {
  /** The default region (/dev/kshm, or /dev/kshm/default while named regions exist). */
  readonly defaultRegion: FakeDevice;
  /**
   * Creates region `name` (as kshm_region_create() does): /dev/kshm/NAME.
   * RangeError for a bad name or page count; an Error (EEXIST) when the
   * name is taken ("default" always is).
   */
  createRegion(name: string, options?: FakeRegionOptions): FakeDevice;
  /**
   * Destroys region `name` (as kshm_region_destroy() does): its path goes,
   * every device open on it fails with DeviceGoneError from then on (calls,
   * waits, snapshot and event streams), its bytes stay readable.
   */
  destroyRegion(name: string): void;
  /** As the package's `listDevices()`: the default region first, then by name. */
  listDevices(): DeviceEntry[];
  /**
   * As the package's `openDevice(path)`: /dev/kshm (the default) opens the
   * default region whatever exists; DeviceNotFoundError for a path that does
   * not exist now.
   */
  openDevice(path?: string, options?: OpenDeviceOptions): Promise<Device>;
}

/**
 * Creates a fake kshm driver with regions.
 *
 * @example
 * ```ts
 * const kshm = createFakeKshm();
 * const sensors = kshm.createRegion('sensors', { pages: 4 });
 * sensors.kernel.write(0, [42]);
 * console.log(kshm.listDevices());        // /dev/kshm/default and /dev/kshm/sensors, with their pages
 * const app = await kshm.openDevice('/dev/kshm/sensors');
 * kshm.destroyRegion('sensors');           // app's calls now fail with DeviceGoneError
 * app.snapshots$.subscribe({ error: (e) => console.log(e instanceof DeviceGoneError) }); // true
 * ```
 */
export function createFakeKshm(options: FakeKshmOptions = {}): FakeKshm {
  const scheduler = options.scheduler ?? asyncScheduler;
  const defaultRegion = fakeRegion(options, scheduler);
  const named = new Map<string, FakeRegion>();
  const pathOf = (name: string): string => (name === DEFAULT_REGION
    ? (named.size > 0 ? '/dev/kshm/default' : '/dev/kshm') : `/dev/kshm/${name}`);
  return {
    defaultRegion: fakeDeviceOn(defaultRegion, scheduler, 'fake:kshm', false, true),
    createRegion: (name, o = {}) => {
      checkRegionName(name);
      if (name === DEFAULT_REGION || named.has(name)) {
        throw Object.assign(new Error(`region "${name}" exists (EEXIST)`), { errno: E.EEXIST });
      }
      const region = fakeRegion(o, scheduler);
      named.set(name, region);
      return fakeDeviceOn(region, scheduler, `fake:kshm/${name}`, false, true);
    },
    destroyRegion: (name) => {
      const region = named.get(name);
      if (!region) throw new Error(`no region "${name}"`);
      named.delete(name);
      region.destroy();
    },
    listDevices: () => [
      { name: DEFAULT_REGION, pages: defaultRegion.pages, path: pathOf(DEFAULT_REGION) },
      ...[...named].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, r]) => ({ name, pages: r.pages, path: pathOf(name) })),
    ],
    openDevice: async (path = '/dev/kshm', o = {}) => {
      const name = path === '/dev/kshm' ? DEFAULT_REGION
        : [DEFAULT_REGION, ...named.keys()].find((n) => pathOf(n) === path);
      const region = name === undefined ? undefined : name === DEFAULT_REGION ? defaultRegion : named.get(name);
      if (!region) throw new DeviceNotFoundError(path);
      return new KshmDevice(new FakeBackend(region, path, o.readOnly ?? false), {
        scheduler: o.scheduler ?? scheduler,
        ...(o.fastPath !== undefined ? { fastPath: o.fastPath } : {}),
      });
    },
  };
}

export { FakeRegion } from './fake-region.js';
export { FakeBackend } from './fake-backend.js';
export { FakeRing } from './fake-ring.js';
