import { openDevice } from '../../lib/index.js';
import { deviceContract } from '../contract/device-contract.js';
import { eventsContract } from '../contract/events-contract.js';

deviceContract('driver (/dev/kshm)', { open: (options) => openDevice('/dev/kshm', options ?? {}) });
// The guests load kshm with ring=4096 (harness/test.mjs).
eventsContract('driver (/dev/kshm, ring=4096)', { open: (options) => openDevice('/dev/kshm', options ?? {}) });
