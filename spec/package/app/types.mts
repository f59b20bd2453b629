// Type-checked against the installed kshm and the app's rxjs: one Observable type.
import { Observable, firstValueFrom } from 'rxjs';
import { openDevice, KshmError, LibraryNotFoundError, type Device, type Snapshot } from 'kshm';
import { createFakeDevice } from 'kshm/testing';

const fake = createFakeDevice();
const counts: Observable<number> = fake.select$((s: Snapshot) => s.u32(0));
const snapshots: Observable<Snapshot> = fake.snapshots$;
const base: KshmError = new LibraryNotFoundError('no library');
const code: string = base.code;
export const all: [Observable<number>, Observable<Snapshot>, string, Promise<Device>, Promise<Snapshot>] = [
  counts, snapshots, code, openDevice('/dev/kshm'), firstValueFrom(snapshots),
];
