// Type-level tests of the device API as a strict app sees it (issue 18): with
// exactOptionalPropertyTypes every optional option accepts `undefined`, the
// Device and Lease are Disposable (`using`), info() serialises, the new
// errors are exported. Run by spec/host/layout-types.spec.ts (with and
// without exactOptionalPropertyTypes).
import {
  DeadlockError, DeviceGoneError, KshmError, listDevices, LockBusyError, LockDeadlockError, openDevice,
  type Device, type DeviceEntry, type DeviceInfoJSON, type KernelWriteOptions, type Lease, type OpenDeviceOptions, type TransactionOptions,
} from 'kshm';
import {
  createFakeDevice, createFakeKshm, type FakeDeviceOptions, type FakeKshm, type FakeOpenOptions,
} from 'kshm/testing';
import type { Observable } from 'rxjs';
import { assertType, type Equal } from './equal.js';

/** What an app passes along from its own optional settings. */
declare const settings: { timeoutMs?: number; signal?: AbortSignal; fastPath?: boolean; readOnly?: boolean };

const tx: TransactionOptions = { timeoutMs: settings.timeoutMs, signal: settings.signal, fastPath: settings.fastPath };
const kw: KernelWriteOptions = { timeoutMs: settings.timeoutMs };
const od: OpenDeviceOptions = { readOnly: settings.readOnly, fastPath: settings.fastPath, scheduler: undefined };
const fd: FakeDeviceOptions = { pages: undefined, scheduler: undefined, readOnly: settings.readOnly, fastPath: undefined };
const fo: FakeOpenOptions = { readOnly: undefined, fastPath: settings.fastPath };

const fake = createFakeDevice(fd);
fake.transaction(() => 1, tx).subscribe();
fake.transaction(() => 1, { timeoutMs: undefined, signal: undefined, fastPath: undefined }).subscribe();
fake.lock$(tx).subscribe();
fake.kernelWrite(0, [1], kw).subscribe();
fake.kernelWrite(0, [1], { timeoutMs: undefined }).subscribe();
const written = fake.kernel.write(0, [1], kw);
assertType<Equal<typeof written, Observable<bigint>>>();
fake.kernel.release(undefined);
const second: Device = fake.open(fo);
void openDevice('/dev/kshm', od).then((d) => d.close());

// Disposable: `using` closes a device, and aborts a lease that was not committed.
function scoped(): void {
  using device = createFakeDevice();
  device.lock$().subscribe((lease: Lease) => {
    using held = lease;
    held.page.setU8(0, 1);
  });
}
scoped();
const dispose: () => void = second[Symbol.dispose];

// info() serialises: generation as a decimal string
const json = JSON.parse(JSON.stringify(fake.info())) as DeviceInfoJSON;
assertType<Equal<typeof json.generation, string>>();
const direct: DeviceInfoJSON = fake.info().toJSON();

// the errors: the deprecated alias is the same class
const deadlock: LockDeadlockError = new DeadlockError('KWRITE');
const busy: LockBusyError = new LockBusyError();
assertType<Equal<typeof deadlock.code, string>>();

// regions (issue 21): listDevices, DeviceGoneError, the fake's regions
const listed: DeviceEntry[] = listDevices();
const [first] = listed;
if (first) assertType<Equal<typeof first, DeviceEntry>>();
const entry: { path: string; name: string; pages: number } = listed[0] ?? { path: '', name: '', pages: 1 };
const gone: KshmError = new DeviceGoneError('poll');
const kshm: FakeKshm = createFakeKshm({ pages: settings.timeoutMs, scheduler: undefined });
const region: Device = kshm.createRegion('sensors', { pages: undefined });
void kshm.openDevice(undefined, od);
const named = createFakeDevice({ ...fd, name: undefined });

void [dispose, direct, busy, gone, region, named, entry];
