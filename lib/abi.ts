// SPDX-License-Identifier: MIT
/**
 * Constants of the driver's ABI (driver/include/uapi/kshm.h) that the
 * TypeScript layer needs. Offsets are byte offsets into struct kshm_header.
 * @module
 */
export const ABI_VERSION = 2;
export const MAGIC = 0x4d48534b;

export const HEADER = {
  magic: 0,
  abiVersion: 4,
  pageSize: 8,
  pages: 12,
  flags: 20,
  holderPid: 32,
  waiters: 36,
  dataOffset: 40,
  dataSize: 48,
  ctrlOffset: 56,
  commitNs: 64,
  tickOffset: 72,
  features: 76,
} as const;

/** Offsets into struct kshm_ctrl, the control page (user-writable). */
export const CTRL = {
  lock: 0,
  seq: 4,
  generation: 8,
  pollers: 16,
} as const;

/** Bytes of struct kshm_ctrl. */
export const CTRL_SIZE = 64;

/** struct kshm_ctrl.lock: the holder's id, the kernel, and two flags. */
export const LW_OWNER_MASK = 0x3fffffff;
export const LW_KERNEL = LW_OWNER_MASK;
export const LW_WAITERS = 0x40000000;
export const LW_DIED = 0x80000000;

export const HDR_LOCKED = 1 << 0;
export const HDR_KERNEL_HOLDER = 1 << 1;
export const HDR_OWNER_DIED = 1 << 2;

export const LOCK_TRY = 1 << 0;
export const LOCK_OWNER_DIED = 1 << 0;
export const UNLOCK_COMMIT = 1 << 0;
export const UNLOCK_ABORT = 1 << 1;
export const UNLOCK_PUBLISHED = 1 << 2;

/** Bytes of struct kshm_tick, which the kernel ticker writes at the end of the data. */
export const TICK_SIZE = 16;
