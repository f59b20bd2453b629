// How a consumer sees kshm fail on a machine without the device, or where no
// libkshm fits. Prints one JSON line; node errors.mjs [missing|nolib|badenv].
import * as kshm from 'kshm';

const mode = process.argv[2] ?? 'missing';
// Pretend to be a machine kshm ships no library for (after koffi loaded its own).
if (mode === 'nolib') Object.defineProperty(process, 'arch', { value: 'riscv64' });

async function attempt(path) {
  try {
    await kshm.openDevice(path);
    return { opened: true };
  } catch (e) {
    return {
      name: e.constructor.name, code: e.code, message: e.message,
      kshmError: e instanceof kshm.KshmError,
      deviceNotFound: e instanceof kshm.DeviceNotFoundError,
      libraryNotFound: e instanceof kshm.LibraryNotFoundError,
    };
  }
}

console.log(JSON.stringify({
  missing: await attempt('/nonexistent'),
  existing: await attempt('/dev/null'),
  permission: new kshm.PermissionDeniedError('/dev/kshm', 13).message,
}));
