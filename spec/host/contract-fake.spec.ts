import { createFakeDevice } from '../../lib/testing/index.js';
import { deviceContract } from '../contract/device-contract.js';

const fake = createFakeDevice();
deviceContract('fake (kshm/testing)', { open: async (options) => fake.open(options) });
