// cli/main.ts: the whole CLI contract in-process, against the fake.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../../cli/main.js';
import { createFakeKshm } from '../../../lib/testing/index.js';
import { cliContract } from '../../contract/cli-contract.js';

// The default region and two named ones, as a driver with regions has.
const kshm = createFakeKshm({ ring: 4096 });
kshm.createRegion('sensors', { pages: 4 });
kshm.createRegion('audio', { pages: 2 });
cliContract('fake (kshm/testing)', { open: kshm.openDevice, list: kshm.listDevices });

const test = suite('CLI on the fake: what only the fake kernel can set up');

test('Ctrl-C while dump waits for its snapshot (the kernel writes in place): exit 130 at once', async () => {
  const fake = createFakeKshm();
  fake.defaultRegion.kernel.hold(); // an in-place writer: readers wait for its release
  try {
    for (const args of [['dump'], ['dump', '--as', 'u32', '--length', '8']]) {
      const running = main(args, { out: () => {}, err: () => {}, isTTY: false }, fake.openDevice, fake.listDevices);
      await new Promise((r) => setTimeout(r, 50));
      process.emit('SIGINT');
      const code = await Promise.race([running, new Promise((r) => setTimeout(() => r('still waiting'), 3000))]);
      assert.is(code, 130, `kshm ${args.join(' ')}`);
    }
  } finally {
    fake.defaultRegion.kernel.release();
  }
});

test('stdout closed by its reader (kshm watch --json | head -1): the watch stops quietly, exit 0', async () => {
  // The real process's output (main's default Io), a fake device committing every 5 ms.
  const dist = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
  const script = `
    import { main } from ${JSON.stringify(dist('cli/main.js'))};
    import { createFakeKshm } from ${JSON.stringify(dist('lib/testing/index.js'))};
    import { lastValueFrom } from 'rxjs';
    const kshm = createFakeKshm();
    const d = await kshm.openDevice();
    const t = setInterval(() => lastValueFrom(d.transaction((p) => p.setU32(0, p.u32(0) + 1))), 5);
    process.exitCode = await main(['watch', '--json', '--as', 'u32', '--length', '4'], undefined, kshm.openDevice);
    clearInterval(t);
    d.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  let line = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d) => {
      line += d;
      if (line.includes('\n')) {
        child.stdout.destroy(); // as head -1 does: read one line, close the pipe
        resolve();
      }
    });
  });
  const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(hard);
  assert.is((JSON.parse(line.split('\n')[0] as string) as { generation: number }).generation >= 0, true);
  assert.is(err, '', 'nothing on stderr (no EPIPE stack trace)');
  assert.is(code, 0);
});

test.run();
