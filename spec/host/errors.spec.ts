// lib/errors.ts: every error has its class and a stable code; errno mapping.
import { constants } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as errors from '../../lib/errors.js';
import { eventsError } from '../../lib/events.js';

const E = constants.errno;
const test = suite('errors');

test('every error class is a KshmError with its own stable code', () => {
  const made: errors.KshmError[] = [
    new errors.DeviceNotFoundError('/x'), new errors.PermissionDeniedError('/x', E.EACCES),
    new errors.AbiMismatchError('m'), new errors.NotAKshmDeviceError('/x', 'magic'), new errors.DeviceClosedError(),
    new errors.LockTimeoutError(5), new errors.LockCancelledError(), new errors.ReadOnlyDeviceError(),
    new errors.DeadlockError('KWRITE'), new errors.LeaseEndedError(), new errors.KshmSystemError('LOCK', E.EIO),
    new errors.DeviceGoneError('poll'),
  ];
  const codes = new Set(made.map((e) => e.code));
  assert.is(codes.size, made.length);
  for (const e of made) {
    assert.instance(e, errors.KshmError);
    assert.match(e.code, /^KSHM_[A-Z_]+$/);
    assert.is(e.name, e.constructor.name);
  }
});

test('lockError: timeout, cancel and deadlock are typed; EBADF is a system error, never read-only', () => {
  assert.instance(errors.lockError(E.ETIMEDOUT, 'LOCK', 7), errors.LockTimeoutError);
  assert.instance(errors.lockError(E.ECANCELED, 'LOCK', 0), errors.LockCancelledError);
  assert.instance(errors.lockError(E.EDEADLK, 'KWRITE', 0), errors.DeadlockError);
  const badf = errors.lockError(E.EBADF, 'LOCK', 0);
  assert.instance(badf, errors.KshmSystemError);
  assert.is(badf.errno, E.EBADF);
  assert.match(badf.message, /EBADF/);
});

test('ENODEV (a destroyed region) is DeviceGoneError wherever a device call reports it', () => {
  // events$ and emit() too (issue 22 on a region of issue 21: the sample module unloaded under a subscriber).
  for (const e of [errors.lockError(E.ENODEV, 'LOCK', 10), errors.systemError('poll', E.ENODEV),
    eventsError('EVENTS', E.ENODEV) as errors.KshmError, eventsError('EMIT', E.ENODEV) as errors.KshmError]) {
    assert.instance(e, errors.DeviceGoneError);
    assert.is(e.code, 'KSHM_DEVICE_GONE');
    assert.is(e.errno, E.ENODEV);
    assert.match(e.message, /destroyed/);
  }
  assert.instance(errors.systemError('poll', E.EIO), errors.KshmSystemError);
  assert.not.instance(errors.systemError('poll', E.EIO), errors.DeviceGoneError);
  assert.instance(eventsError('EVENTS', E.ENOSPC), errors.NoRingError);
  assert.instance(eventsError('EMIT', E.EINVAL), errors.KshmSystemError);
});

test.run();
