// cli/main.ts: the whole CLI contract in-process, against the fake.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../../cli/main.js';
import { createFakeKshm } from '../../../lib/testing/index.js';
import { cliContract } from '../../contract/cli-contract.js';

// The default region and two named ones, as a driver with regions has.
const kshm = createFakeKshm({ ring: 4096 });
kshm.createRegion('sensors', { pages: 4 });
kshm.createRegion('audio', { pages: 2 });
cliContract('fake (kshm/testing)', {
  open: kshm.openDevice,
  list: kshm.listDevices,
  interruptible: (value) => [['kwrite', '700', value, '--as', 'u8', '--timeout', '30000']],
});

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

test.run();
