import { createFakeDevice } from '../../lib/testing/index.js';
import { deviceContract } from '../contract/device-contract.js';
import { eventsContract } from '../contract/events-contract.js';

const fake = createFakeDevice();
deviceContract('fake (kshm/testing)', { open: async (options) => fake.open(options) });
const withRing = createFakeDevice({ ring: 4096 });
eventsContract('fake (kshm/testing), ring 4096', { open: async (options) => withRing.open(options) });
