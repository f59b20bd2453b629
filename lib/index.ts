// SPDX-License-Identifier: MIT
/**
 * kshm: pages shared between the Linux kernel and user space, as RxJS
 * streams. See README.md for the API tour and ARCHITECTURE.md for the design.
 * @module
 */
export { openDevice, type OpenDeviceOptions } from './open-device.js';
export { listDevices, type DeviceEntry, type ListDevicesOptions } from './list-devices.js';
export { KshmDevice } from './device.js';
export type { Device, KernelWriteOptions, Lease, TransactionOptions } from './types.js';
export type { Backend, DeviceInfo, DeviceInfoJSON, LockAttempt, RawSnapshot } from './backend.js';
export { Snapshot } from './snapshot.js';
export { EventRecord, type EventsOptions } from './events.js';
export type { EventsFrom, RawEvent } from './backend.js';
export { Page } from './page.js';
export { ByteReader } from './bytes.js';
export { transact } from './operators/transact.js';
export { select } from './operators/select.js';
export { layoutValuesEqual, selectLayout } from './operators/select-layout.js';
export {
  defineLayout, layoutFromJSON,
  type FieldData, type FieldDataPatch, type FieldMap, type FieldPatch, type FieldSpec, type FieldType, type FieldValue,
  type Layout, type LayoutData, type LayoutDataPatch, type LayoutJSON, type LayoutPatch, type LayoutValue,
  type NestedField, type NumberField, type NumberType, type SizedField,
} from './layout.js';
export {
  AbiMismatchError, DeadlockError, DeviceClosedError, DeviceGoneError, DeviceNotFoundError, KshmError, KshmSystemError,
  LeaseEndedError, LibraryNotFoundError, LockBusyError, LockCancelledError, LockDeadlockError, LockTimeoutError,
  NoRingError, NotAKshmDeviceError,
  PermissionDeniedError,
  ReadOnlyDeviceError,
} from './errors.js';
