// cli/main.ts: the whole CLI contract in-process, against the fake.
import { createFakeKshm } from '../../../lib/testing/index.js';
import { cliContract } from '../../contract/cli-contract.js';

// The default region and two named ones, as a driver with regions has.
const kshm = createFakeKshm({ ring: 4096 });
kshm.createRegion('sensors', { pages: 4 });
kshm.createRegion('audio', { pages: 2 });
cliContract('fake (kshm/testing)', { open: kshm.openDevice, list: kshm.listDevices });
