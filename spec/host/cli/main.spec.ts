// cli/main.ts: the whole CLI contract in-process, against the fake.
import { DeviceNotFoundError } from '../../../lib/index.js';
import { createFakeDevice } from '../../../lib/testing/index.js';
import { cliContract } from '../../contract/cli-contract.js';

const fake = createFakeDevice({ ring: 4096 });
cliContract('fake (kshm/testing)', {
  open: async (path, options) => {
    if (path !== '/dev/kshm') throw new DeviceNotFoundError(path);
    return fake.open({ readOnly: options.readOnly ?? false });
  },
});
