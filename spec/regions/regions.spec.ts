// The library and the CLI with named regions (guest booted with
// regions=a:1,b:4: /dev/kshm is their directory, the default region is
// /dev/kshm/default).
import { lastValueFrom } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../cli/main.js';
import { listDevices, openDevice } from '../../lib/index.js';

const test = suite('regions: library and CLI (regions=a:1,b:4)');

async function kshm(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => { out += t; }, err: (t) => { err += t; }, isTTY: false });
  return { code, out, err };
}

test('listDevices: the default region (/dev/kshm/default), a and b with their pages', async () => {
  const regions = (await listDevices()).filter((r) => r.name !== 'sample');
  assert.equal(regions, [
    { name: 'default', pages: 1, path: '/dev/kshm/default' },
    { name: 'a', pages: 1, path: '/dev/kshm/a' },
    { name: 'b', pages: 4, path: '/dev/kshm/b' },
  ]);
});

test('openDevice() and openDevice(\'/dev/kshm\') open the default region, read-write and read-only', async () => {
  const byPath = await openDevice('/dev/kshm/default');
  try {
    for (const options of [{}, { readOnly: true }]) {
      for (const d of [await openDevice(undefined, options), await openDevice('/dev/kshm', options)]) {
        try {
          assert.is(d.size, 4096);
          // The same region: a commit through one is the other's generation.
          const g = await lastValueFrom(byPath.transaction((p) => p.generation + 1n));
          assert.is(d.info().generation, g);
        } finally {
          d.close();
        }
      }
    }
  } finally {
    byPath.close();
  }
});

test('openDevice(\'/dev/kshm/b\') works unchanged: its own size, lock and generation', async () => {
  const a = await openDevice('/dev/kshm/a');
  const b = await openDevice('/dev/kshm/b');
  try {
    assert.is(b.size, 4 * 4096);
    const ga = a.info().generation;
    const lease = await new Promise<{ done(): void }>((resolve, reject) => {
      const sub = a.lock$({ timeoutMs: 1000 }).subscribe({
        next: () => resolve({ done: () => sub.unsubscribe() }),
        error: reject,
      });
    });
    try {
      // a is held: b commits at once anyway (timeoutMs 0: no waiting at all).
      const gb = await lastValueFrom(b.transaction((p) => {
        p.setU32(16380, 0xabcd);
        return p.generation + 1n;
      }, { timeoutMs: 0 }));
      assert.is(b.info().generation, gb);
    } finally {
      lease.done();
    }
    assert.is(a.info().generation, ga);
  } finally {
    a.close();
    b.close();
  }
});

test('kshm list, and --device on the CLI', async () => {
  const list = await kshm(['list']);
  assert.is(list.code, 0, list.err);
  assert.match(list.out, /^default\s+1\s+\/dev\/kshm\/default$/m);
  assert.match(list.out, /^b\s+4\s+\/dev\/kshm\/b$/m);
  const info = await kshm(['info', '--json', '--device', '/dev/kshm/b']);
  assert.is(info.code, 0, info.err);
  assert.is((JSON.parse(info.out) as { pages: number }).pages, 4);
  const write = await kshm(['write', '--device', '/dev/kshm/a', '0', '77']);
  assert.is(write.code, 0, write.err);
  const dump = await kshm(['dump', '--device', '/dev/kshm/a', '--length', '4', '--as', 'u32', '--json']);
  assert.is(dump.code, 0, dump.err);
  assert.match(dump.out, /77/);
  // The default region, found through /dev/kshm's fallback.
  assert.is((await kshm(['info'])).code, 0);
});

test.run();
