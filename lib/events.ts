// SPDX-License-Identifier: MIT
/**
 * The event stream of a device: the records of its ring (EVENTS in the uapi
 * header), in seq order, each reader with its own position. Backends deliver
 * records in batches, one per wake-up; the stream emits them one by one.
 * @module
 */
import { Observable } from 'rxjs';
import { constants } from 'node:os';
import type { Backend, EventsFrom, RawEvent } from './backend.js';
import { ByteReader, toBytes } from './bytes.js';
import { EV_MAX_DATA } from './abi.js';
import { DeviceClosedError, NoRingError, ReadOnlyDeviceError, systemError } from './errors.js';

const E = constants.errno;

/**
 * Options of `device.events$()`.
 *
 * @example
 * ```ts
 * device.events$({ from: 'oldest' }).subscribe((e) => console.log(e.seq, e.type, e.u64(0)));
 * ```
 */
export interface EventsOptions {
  /**
   * `'now'` (default): the records published after the subscription;
   * `'oldest'`: first the records the ring still holds, then the new ones.
   */
  from?: EventsFrom | undefined;
}

/** What only the library may do with a record (not exported from `kshm`). */
let friend: { create(raw: RawEvent): EventRecord };

/**
 * One record of a device's ring, as `device.events$()` emits it: its
 * sequence number, type, time and payload, with the typed readers of a
 * {@link Snapshot} (`u8` .. `f64`, `utf8`, `slice`, `read(layout)`) over
 * the payload.
 *
 * @example
 * ```ts
 * device.events$().subscribe((e) => {
 *   if (e.lostBefore > 0) console.warn(`lost ${e.lostBefore} records`);
 *   console.log(e.seq, e.type, e.timeNs, e.u64(0));
 * });
 * ```
 */
export class EventRecord extends ByteReader {
  /**
   * Contiguous per ring, from 0: the next record of the ring has seq + 1.
   * A bigint like the generation (the ABI's u64).
   */
  readonly seq: bigint;
  /** The producer's record type (a u32). */
  readonly type: number;
  /** CLOCK_MONOTONIC in ns when the record was published (never less than the previous record's). */
  readonly timeNs: bigint;
  /**
   * Records overwritten before this subscriber could read them, just
   * before this one: `seq` minus the previous record's seq minus 1 (0
   * normally, and for the first record of a subscription).
   */
  readonly lostBefore: number;
  /** Emitted by a user process (`device.emit`), not by kernel code. */
  readonly fromUser: boolean;

  /** Records are made by devices only. */
  private constructor(raw: RawEvent) {
    super(raw.bytes);
    this.seq = raw.seq;
    this.type = raw.type;
    this.timeNs = raw.timeNs;
    this.lostBefore = raw.lostBefore;
    this.fromUser = raw.fromUser;
  }

  static {
    friend = { create: (raw) => new EventRecord(raw) };
  }

  /** A copy of the payload (yours to keep or change). */
  get bytes(): Uint8Array {
    return this.bytesView.slice();
  }
}

/**
 * A record over `raw` (library-internal: the bytes become the record's own).
 * @internal
 */
export function createEventRecord(raw: RawEvent): EventRecord {
  return friend.create(raw);
}

/** The typed error for an errno of the events calls. */
export function eventsError(operation: string, errno: number): Error {
  return errno === E.ENOSPC ? new NoRingError() : systemError(operation, errno);
}

export function emitRecord(backend: Backend, closed: boolean, type: number, bytes: ArrayLike<number>): bigint {
  if (closed) throw new DeviceClosedError();
  if (backend.readOnly) throw new ReadOnlyDeviceError();
  if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) {
    throw new RangeError(`a record type is a u32 (0 to 4294967295), got ${type}`);
  }
  const data = toBytes(bytes);
  if (data.length > EV_MAX_DATA) {
    throw new RangeError(`a record carries at most ${EV_MAX_DATA} bytes, got ${data.length}`);
  }
  if (!backend.emit) throw new NoRingError();
  const { errno, seq } = backend.emit(type, data);
  if (errno) throw eventsError('EMIT', errno);
  return seq;
}

/** What the stream needs from its device. */
export interface EventSource {
  readonly backend: Backend;
  readonly closed: () => boolean;
  /** Emits once when the device closes. */
  readonly closed$: Observable<void>;
}

/**
 * A cold stream: each subscription is a reader with its own position, which
 * completes when the device closes.
 */
export function eventStream(source: EventSource, options: EventsOptions = {}): Observable<EventRecord> {
  const from = options.from ?? 'now';
  return new Observable<EventRecord>((subscriber) => {
    if (from !== 'now' && from !== 'oldest') {
      subscriber.error(new TypeError(`events$: from must be 'now' or 'oldest', got ${String(from)}`));
      return undefined;
    }
    if (source.closed()) {
      subscriber.error(new DeviceClosedError());
      return undefined;
    }
    const { backend } = source;
    if (!backend.events) {
      subscriber.error(new NoRingError());
      return undefined;
    }
    const closing = source.closed$.subscribe(() => subscriber.complete());
    const stop = backend.events(from, (batch) => {
      for (const raw of batch) {
        if (subscriber.closed) return;
        subscriber.next(createEventRecord(raw));
      }
    }, (errno) => subscriber.error(eventsError('EVENTS', errno)));
    return () => {
      closing.unsubscribe();
      stop();
    };
  });
}
