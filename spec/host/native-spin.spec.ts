// lib/native/native-backend.ts's spin before a queued wait (spinWhileHeld),
// over libkshm's stand-in build with a shared region, in a child process
// (the library is chosen once per process): a word naming another open
// device of this process on the same region ends the spin at once (that
// device's release, or its grant when the lock was handed to it, runs on
// this same main thread); another thread's or process's hold is spun on.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { onStandin } from './standin-child.js';

const test = suite('native backend spin: own devices (stand-in library)');
const backendUrl = new URL('../../lib/native/native-backend.js', import.meta.url).href;

const script = (name: string): string => `
const { openNativeBackend, ownLockIds } = await import(${JSON.stringify(backendUrl)});
const { Worker } = await import('node:worker_threads');
const path = 'standin:1:${name}';
const out = {};
const a = openNativeBackend(path, false);
const b = openNativeBackend(path, false);
const reader = openNativeBackend(path, true);
out.registered = ownLockIds();
out.aTook = a.tryLock(true, false).ok;
// A budget of a minute: only the own-device rule can end this spin (a's release needs this thread).
out.ownSpin = b.spinWhileHeld(60e9, 60e9);
out.aReleased = a.unlock(false);
// A stranger: a worker thread's backend (its own module instance: not this thread's) holds it for 100 ms.
const w = new Worker(\`
  const { workerData, parentPort } = await import('node:worker_threads');
  const { openNativeBackend } = await import(workerData.url);
  const c = openNativeBackend(workerData.path, false);
  parentPort.postMessage(c.tryLock(true, false).ok);
  setTimeout(() => { c.unlock(false); c.close(); parentPort.postMessage('released'); }, 100);\`, { eval: true, workerData: { url: ${JSON.stringify(backendUrl)}, path } });
out.strangerTook = await new Promise((resolve) => w.once('message', resolve));
out.strangerSpin = b.spinWhileHeld(60e9, 60e9);
await new Promise((resolve) => w.once('message', resolve));
await w.terminate();
a.close();
out.afterOneClose = ownLockIds();
b.close();
reader.close();
out.afterAll = ownLockIds();
console.log(JSON.stringify(out));
`;

test('a word naming another device of this process ends the spin at once; a stranger\'s hold is spun on; closed devices leave the registry', () => {
  // Unfixed, the first spin lasts its minute: the timeout fails it.
  assert.equal(onStandin('spec-spin', script, 20000), {
    registered: 2, aTook: true, ownSpin: false, aReleased: 0,
    strangerTook: true, strangerSpin: true, afterOneClose: 1, afterAll: 0,
  });
});

test.run();
