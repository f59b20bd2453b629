// SPDX-License-Identifier: MIT
// The npm start demo's arguments, checked by the demo and by harness/start.mjs
// before it boots a guest (bad arguments never cost a boot).
import { parseArgs } from 'node:util';

export const DEMO_USAGE = 'usage: npm start [-- [--duration S] [--device PATH] [--tick-ms MS] [--kernel 6.1|6.12|7.3]]\n'
  + '  the live dashboard, here when /dev/kshm exists, else in a QEMU guest (--kernel: which one, default 6.1);\n'
  + '  --duration: stop after S seconds (default: on Ctrl-C); --tick-ms: the kernel ticker\'s period (default 50)';

export interface DemoArgs {
  /** Seconds to run; Infinity: until Ctrl-C. */
  durationS: number;
  device: string;
  /** The ticker period to set, as written to tick_ms. */
  tickMs: string;
  help: boolean;
}

/** The demo's arguments (without --kernel, start.mjs's own), or an Error saying what is wrong. */
export function parseDemoArgs(argv: string[]): DemoArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' }, device: { type: 'string' }, 'tick-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const durationS = values.duration === undefined ? Infinity : Number(values.duration);
  if (values.duration !== undefined && !(Number.isFinite(durationS) && durationS > 0)) {
    throw new Error(`--duration must be a positive number of seconds, got ${values.duration}`);
  }
  const tickMs = values['tick-ms'] ?? '50';
  if (!/^\d+$/.test(tickMs)) throw new Error(`--tick-ms must be a whole number of milliseconds, got ${tickMs}`);
  return { durationS, device: values.device ?? '/dev/kshm', tickMs, help: values.help ?? false };
}
