// SPDX-License-Identifier: MIT
/**
 * The constants of the driver's ABI (driver/include/uapi/kshm.h) that the
 * TypeScript layer uses, each named as in C without the KSHM_ prefix.
 * spec/host/abi.spec.ts checks every one against the C compiler's view.
 * @module
 */
export const ABI_VERSION = 2;

/** Byte offsets into struct kshm_ctrl, the control page (user-writable). */
export const CTRL = {
  lock: 0,
  seq: 4,
  generation: 8,
  pollers: 16,
} as const;

/** Bytes of struct kshm_ctrl. */
export const CTRL_SIZE = 64;

/** struct kshm_ctrl.lock: the holder's id (or the kernel's), and two flags. */
export const LW_OWNER_MASK = 0x3fffffff;
export const LW_KERNEL = LW_OWNER_MASK;
export const LW_WAITERS = 0x40000000;
export const LW_DIED = 0x80000000;

/** struct kshm_info.flags */
export const HDR_LOCKED = 1 << 0;
export const HDR_KERNEL_HOLDER = 1 << 1;
export const HDR_OWNER_DIED = 1 << 2;

/** struct kshm_lock_req.flags */
export const LOCK_TRY = 1 << 0;
export const LOCK_STAGED = 1 << 1;
/** struct kshm_lock_req.result */
export const LOCK_OWNER_DIED = 1 << 0;
/** struct kshm_unlock_req.flags */
export const UNLOCK_COMMIT = 1 << 0;
export const UNLOCK_ABORT = 1 << 1;
export const UNLOCK_PUBLISHED = 1 << 2;

/** Bytes of struct kshm_tick, which the kernel ticker writes at the end of the data. */
export const TICK_SIZE = 16;

/** Regions (REGIONS in the uapi header): the default region's node, and named regions' directory. */
export const DEVICE_PATH = '/dev/kshm';
export const REGION_DIR = '/dev/kshm/';
export const DEFAULT_REGION_NAME = 'default';
/** The default region's node while named regions exist (/dev/kshm is then a directory). */
export const DEFAULT_REGION_ALT = '/dev/kshm/default';
/** Where the regions' misc devices are: kshm (the default region) and kshm!NAME. */
export const SYSFS_DIR = '/sys/class/misc/';
export const REGION_NAME_MAX = 32;
/** EVENTS: payload bytes per record (struct kshm_event.data). */
export const EV_MAX_DATA = 104;
/** struct kshm_event.flags: the record was emitted by a user (KSHM_IOC_EMIT). */
export const EV_USER = 1 << 0;
/** libkshm's kshm_events_start() starting points. */
export const EVENTS_FROM_NOW = 0;
export const EVENTS_FROM_OLDEST = 1;
/** Byte offsets into libkshm's struct kshm_event_rec (what kshm_events_next() fills). */
export const EVENT_REC = {
  seq: 0,
  time_ns: 8,
  lost_before: 16,
  type: 24,
  len: 28,
  flags: 30,
  data: 32,
} as const;
/** Bytes of struct kshm_event_rec. */
export const EVENT_REC_SIZE = 136;
