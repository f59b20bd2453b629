import { openDevice } from '../../lib/index.js';
import { deviceContract } from '../contract/device-contract.js';

deviceContract('driver (/dev/kshm)', { open: (options) => openDevice('/dev/kshm', options ?? {}) });
