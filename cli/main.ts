// SPDX-License-Identifier: MIT
// kshm: the command-line tool for operators and developers, like ipcs for
// SysV memory. Built only on the public API. Run `kshm help`.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  distinctUntilChanged, lastValueFrom, map, pairwise, startWith, take, takeUntil, type Observable, type Subscription,
} from 'rxjs';
import {
  KshmError, layoutFromJSON, layoutValuesEqual, listDevices, openDevice, type Device, type DeviceEntry, type Layout,
  type OpenDeviceOptions, type Snapshot,
} from '../lib/index.js';
import {
  encodeValue, fieldRows, FORMATS, infoText, plainFields, readValues, render, toJson, WIDTH, type Format,
} from './format.js';

class UsageError extends Error {}

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;
const EXIT_INTERRUPTED = 130;

/** Where the CLI writes; the real process by default, a capture in specs. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  isTTY: boolean;
}

const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: process.stdout.isTTY === true,
};

function parseNumber(name: string, text: string | undefined, fallback?: number): number {
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`${name} is required`);
    return fallback;
  }
  const v = Number(text);
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text) || !Number.isSafeInteger(v)) {
    throw new UsageError(`${name} must be a whole number >= 0, got "${text}"`);
  }
  return v;
}

function parseFormat(text: string | undefined, fallback: Format): Format {
  if (text === undefined) return fallback;
  if (!(FORMATS as readonly string[]).includes(text)) {
    throw new UsageError(`--as must be one of ${FORMATS.join(', ')}, got "${text}"`);
  }
  return text as Format;
}

function checkRange(device: Device, offset: number, length: number, format: Format): void {
  if (length === 0 || offset + length > device.size) {
    throw new UsageError(`bytes ${offset}..${offset + length} are outside the ${device.size}-byte region`);
  }
  if (length % WIDTH[format] !== 0) throw new UsageError(`--length must be a multiple of ${WIDTH[format]} for ${format}`);
}

interface Ctx {
  /** The device --device names (a command with `opens: false` has none: do not use it). */
  device: Device;
  /** The regions the driver has (listDevices, or a fake's in specs). */
  list: DeviceLister;
  json: boolean;
  tty: boolean;
  out: (line: string) => void;
  raw: (text: string) => void;
  /** Resolves on Ctrl-C. */
  interrupted: Promise<void>;
}

/** `list`: every region, its pages and its device path (from sysfs). */
async function cmdList(ctx: Ctx): Promise<void> {
  const regions = await ctx.list();
  if (ctx.json) {
    ctx.out(toJson(regions));
    return;
  }
  if (regions.length === 0) {
    ctx.out('no kshm regions: the driver is not loaded');
    return;
  }
  const width = Math.max(4, ...regions.map((r) => r.name.length));
  ctx.out(`${'NAME'.padEnd(width)}  PAGES  PATH`);
  for (const r of regions) ctx.out(`${r.name.padEnd(width)}  ${String(r.pages).padStart(5)}  ${r.path}`);
}

async function cmdInfo(ctx: Ctx): Promise<void> {
  const info = ctx.device.info();
  ctx.out(ctx.json ? toJson({ device: ctx.device.path, ...info }) : infoText(ctx.device.path, info));
}

/** --layout FILE.json: the field map (the JSON of defineLayout, see layoutFromJSON), or a UsageError. */
function readLayout(file: string): Layout {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--layout: cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return layoutFromJSON(text);
  } catch (e) {
    throw new UsageError(`--layout ${file}: ${(e as Error).message}`);
  }
}

/**
 * --layout FILE.json placed at --offset; checked before anything is read.
 */
function loadLayout(device: Device, opts: Options): { layout: Layout; offset: number } {
  const file = opts['layout'] as string;
  const layout = readLayout(file);
  const offset = parseNumber('--offset', opts['offset'], 0);
  if (offset + layout.size > device.size) {
    throw new UsageError(`--layout ${file} spans bytes ${offset}..${offset + layout.size}, `
      + `outside the ${device.size}-byte region`);
  }
  return { layout, offset };
}

/**
 * The last value of `source$`, given up on Ctrl-C (unsubscribed: a wait for
 * the lock is cancelled; main() then exits 130).
 */
function lastUnlessInterrupted<T>(ctx: Ctx, source$: Observable<T>): Promise<T> {
  return lastValueFrom(source$.pipe(takeUntil(ctx.interrupted)));
}

/** `dump --layout`: the named fields of the current snapshot. */
async function dumpFields(ctx: Ctx, opts: Options): Promise<void> {
  const { layout, offset } = loadLayout(ctx.device, opts);
  const s = await lastUnlessInterrupted(ctx, ctx.device.snapshots$.pipe(take(1)));
  const fields = s.read(layout, offset);
  if (ctx.json) ctx.out(toJson({ generation: s.generation, offset, fields: plainFields(fields) }));
  else ctx.out(`generation ${s.generation}\n${fieldRows(fields).join('\n')}`);
}

/**
 * What every watch does: `--count` values of `source$` (all without it), each
 * to `show`, until the stream ends, fails or Ctrl-C comes.
 */
async function follow<T>(ctx: Ctx, opts: Options, source$: Observable<T>, show: (value: T) => void): Promise<void> {
  const count = opts['count'] === undefined ? Infinity : parseNumber('--count', opts['count']);
  let sub: Subscription | undefined;
  const done = new Promise<void>((resolve, reject) => {
    sub = source$.pipe(take(count)).subscribe({ next: show, error: reject, complete: resolve });
  });
  await Promise.race([done, ctx.interrupted]);
  sub?.unsubscribe();
}

/** `watch --layout`: the named fields, once per commit that changed one of them. */
async function watchFields(ctx: Ctx, opts: Options): Promise<void> {
  const { layout, offset } = loadLayout(ctx.device, opts);
  const fields$ = ctx.device.snapshots$.pipe(
    map((s) => ({ generation: s.generation, fields: s.read(layout, offset) })),
    distinctUntilChanged((a, b) => layoutValuesEqual(a.fields, b.fields)),
  );
  await follow(ctx, opts, fields$, ({ generation, fields }) => {
    if (ctx.json) {
      ctx.out(toJson({ generation, fields: plainFields(fields) }));
    } else if (ctx.tty) {
      const head = `kshm watch ${ctx.device.path}  generation ${generation}  (Ctrl-C to stop)`;
      ctx.raw(`\x1b[H\x1b[2J${head}\n\n${fieldRows(fields).join('\n')}\n`);
    } else {
      ctx.out(`generation ${generation} ${fieldRows(fields).map((r) => r.replace(/ +/, ' ')).join(' | ')}`);
    }
  });
}

async function cmdDump(ctx: Ctx, opts: Options): Promise<void> {
  if (opts['layout'] !== undefined) return dumpFields(ctx, opts);
  const format = parseFormat(opts['as'], 'hex');
  const offset = parseNumber('--offset', opts['offset'], 0);
  const length = parseNumber('--length', opts['length'], Math.max(0, ctx.device.size - offset));
  checkRange(ctx.device, offset, length, format);
  const s = await lastUnlessInterrupted(ctx, ctx.device.snapshots$.pipe(take(1)));
  if (ctx.json) ctx.out(toJson({ generation: s.generation, offset, length, as: format, values: readValues(s, offset, length, format) }));
  else ctx.out(`generation ${s.generation}\n${render(s, offset, length, format)}`);
}

/** `watch --events`: the ring's records, one line each, as they come (EVENTS). */
async function watchEvents(ctx: Ctx, opts: Options): Promise<void> {
  const from = (opts['from'] ?? 'now') as 'now' | 'oldest'; // checked by precheck()
  await follow(ctx, opts, ctx.device.events$({ from }), (e) => {
    const hex = [...e.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    if (ctx.json) {
      ctx.out(toJson({
        seq: e.seq, type: e.type, timeNs: e.timeNs, lostBefore: e.lostBefore, fromUser: e.fromUser, bytes: hex,
      }));
    } else {
      const lost = e.lostBefore ? `(${e.lostBefore} lost) ` : '';
      ctx.out(`${lost}seq ${e.seq} type ${e.type} time ${e.timeNs}${e.fromUser ? ' user' : ''} [${e.size}] ${hex}`);
    }
  });
}

/** VALUE as bytes in `format` (a UsageError when it does not fit). */
function valueBytes(value: string, format: Format): Uint8Array {
  try {
    return encodeValue(value, format);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** emit's TYPE [VALUE], checked. */
function emitArgs(positionals: string[], opts: Options): { type: number; bytes: Uint8Array } {
  const [typeText, value] = positionals;
  if (typeText === undefined) throw new UsageError('emit needs TYPE');
  const type = parseNumber('TYPE', typeText);
  const bytes = value === undefined ? new Uint8Array(0) : valueBytes(value, parseFormat(opts['as'], 'u32'));
  return { type, bytes };
}

/** `emit TYPE [VALUE]`: publish one record in the ring (EVENTS). */
async function cmdEmit(ctx: Ctx, positionals: string[], opts: Options): Promise<void> {
  const { type, bytes } = emitArgs(positionals, opts);
  const seq = ctx.device.emit(type, bytes);
  ctx.out(ctx.json ? toJson({ seq, type, bytes: bytes.length }) : `seq ${seq}`);
}

async function cmdWatch(ctx: Ctx, opts: Options): Promise<void> {
  if (opts['events'] !== undefined) return watchEvents(ctx, opts);
  if (opts['layout'] !== undefined) return watchFields(ctx, opts);
  const format = parseFormat(opts['as'], 'hex');
  const offset = parseNumber('--offset', opts['offset'], 0);
  const length = parseNumber('--length', opts['length'], Math.max(0, Math.min(256, ctx.device.size - offset)));
  checkRange(ctx.device, offset, length, format);
  const commits: number[] = [];
  const rate = (): number => {
    const now = Date.now();
    while (commits.length > 0 && (commits[0] as number) < now - 1000) commits.shift();
    return commits.length;
  };
  const pairs$ = ctx.device.snapshots$.pipe(
    startWith(undefined),
    pairwise(),
    map(([prev, s]) => [prev, s as Snapshot] as const),
  );
  await follow(ctx, opts, pairs$, ([prev, s]) => {
    commits.push(Date.now());
    if (ctx.json) {
      ctx.out(toJson({ generation: s.generation, rate: rate(), values: readValues(s, offset, length, format) }));
    } else if (ctx.tty) {
      const head = `kshm watch ${ctx.device.path}  generation ${s.generation}  ${rate()} commits/s  (Ctrl-C to stop)`;
      ctx.raw(`\x1b[H\x1b[2J${head}\n\n${render(s, offset, length, format, prev, ['\x1b[7m', '\x1b[0m'])}\n`);
    } else {
      ctx.out(`generation ${s.generation} rate ${rate()}/s ${render(s, offset, length, format).replace(/\n/g, ' | ')}`);
    }
  });
}

/** write's and kwrite's OFFSET VALUE, checked. */
function writeArgs(positionals: string[], opts: Options, kernel: boolean): { offset: number; bytes: Uint8Array } {
  const [offsetText, value] = positionals;
  if (offsetText === undefined || value === undefined) throw new UsageError(`${kernel ? 'kwrite' : 'write'} needs OFFSET and VALUE`);
  const format = parseFormat(opts['as'], 'u32');
  const offset = parseNumber('OFFSET', offsetText);
  const bytes = valueBytes(value, format);
  if (bytes.length === 0) throw new UsageError('VALUE is empty: nothing to write');
  return { offset, bytes };
}

async function cmdWrite(ctx: Ctx, positionals: string[], opts: Options, kernel: boolean): Promise<void> {
  const { offset, bytes } = writeArgs(positionals, opts, kernel);
  checkRange(ctx.device, offset, bytes.length, 'hex');
  const timeoutMs = opts['timeout'] === undefined ? undefined : parseNumber('--timeout', opts['timeout']);
  const options = timeoutMs === undefined ? {} : { timeoutMs };
  const generation = await lastUnlessInterrupted(ctx, kernel
    ? ctx.device.kernelWrite(offset, bytes, options)
    : ctx.device.transaction((page) => {
      page.set(offset, bytes);
      return page.generation + 1n; // the commit that follows, under this lock
    }, options));
  if (ctx.json) ctx.out(toJson({ offset, bytes: bytes.length, generation, by: kernel ? 'kernel' : 'user' }));
  else ctx.out(`wrote ${bytes.length} bytes at ${offset}${kernel ? ' from the kernel' : ''}: generation ${generation}`);
}

async function cmdLock(ctx: Ctx, opts: Options): Promise<void> {
  const holdMs = parseNumber('--hold', opts['hold']);
  const timeoutMs = opts['timeout'] === undefined ? undefined : parseNumber('--timeout', opts['timeout']);
  let sub: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  const held = new Promise<void>((resolve, reject) => {
    sub = ctx.device.lock$(timeoutMs === undefined ? {} : { timeoutMs }).subscribe({
      next: (lease) => {
        ctx.out(ctx.json ? toJson({ held: true, ownerDied: lease.ownerDied, pid: process.pid })
          : `holding the lock for ${holdMs} ms (pid ${process.pid})${lease.ownerDied ? ', previous holder died' : ''}`);
        timer = setTimeout(resolve, holdMs);
      },
      error: reject,
    });
  });
  const interrupted = await Promise.race([held.then(() => false), ctx.interrupted.then(() => true)]);
  clearTimeout(timer);
  sub?.unsubscribe(); // aborts the lease: the lock is released, nothing changed
  if (!interrupted) ctx.out(ctx.json ? toJson({ released: true }) : 'released');
}

/** One kshm command: everything the CLI knows about it, in one row. */
interface Command {
  name: string;
  /** Opens the device read-only (no lock, no writes). */
  readOnly: boolean;
  /** false: needs no device (--device is ignored). */
  opens?: false;
  /** Its line(s) in the usage text, after the name. */
  usage: string;
  /** How many operands (after the name) it takes at most (default none). */
  operands?: number;
  /** Checks of its own needing no device, before it is opened (UsageError); see {@link precheck}. */
  precheck?(positionals: string[], opts: Options): void;
  run(ctx: Ctx, positionals: string[], opts: Options): Promise<void>;
}

type Options = Record<string, string | undefined>;

/** The command table: usage, read-only opening and dispatch all come from it. */
const COMMANDS: readonly Command[] = [
  { name: 'list', readOnly: true, opens: false, usage: '                          the regions: name, data pages, device path',
    run: (ctx) => cmdList(ctx) },
  { name: 'info', readOnly: true, usage: '                          ABI, pages, generation, holder, waiters, counters',
    run: (ctx) => cmdInfo(ctx) },
  { name: 'watch', readOnly: true,
    usage: ' [--offset N] [--length N] [--as FMT] [--count N] [--layout FILE.json]\n'
      + '                                a live view, redrawn on each commit (changed bytes highlighted;\n'
      + '                                with --layout: named fields, when one changed)\n'
      + '  watch --events [--from now|oldest] [--count N]\n'
      + '                                the ring\'s records, one line each, live (lost ones counted)',
    run: (ctx, _, opts) => cmdWatch(ctx, opts) },
  { name: 'dump', readOnly: true,
    usage: '  [--offset N] [--length N] [--as FMT] [--layout FILE.json]\n'
      + '                                the current snapshot (with --layout: its named fields)',
    run: (ctx, _, opts) => cmdDump(ctx, opts) },
  { name: 'write', readOnly: false,
    usage: ' OFFSET VALUE [--as FMT] [--timeout MS]\n                                write under the lock and commit (--timeout 0: try once)',
    operands: 2, precheck: (positionals, opts) => { writeArgs(positionals, opts, false); },
    run: (ctx, positionals, opts) => cmdWrite(ctx, positionals, opts, false) },
  { name: 'kwrite', readOnly: false,
    usage: ' OFFSET VALUE [--as FMT] [--timeout MS]\n                                ask the kernel to write and commit',
    operands: 2, precheck: (positionals, opts) => { writeArgs(positionals, opts, true); },
    run: (ctx, positionals, opts) => cmdWrite(ctx, positionals, opts, true) },
  { name: 'emit', readOnly: false,
    usage: '  TYPE [VALUE] [--as FMT]   publish a record (VALUE as FMT, default u32) in the ring',
    operands: 2, precheck: (positionals, opts) => { emitArgs(positionals, opts); },
    run: (ctx, positionals, opts) => cmdEmit(ctx, positionals, opts) },
  { name: 'lock', readOnly: false, usage: ' --hold MS [--timeout MS] hold the lock for MS milliseconds, then release (abort)',
    precheck: (_, opts) => { if (opts['hold'] === undefined) throw new UsageError('lock needs --hold MS'); },
    run: (ctx, _, opts) => cmdLock(ctx, opts) },
];

const USAGE = `usage: kshm [--device PATH] [--json] COMMAND ...

--device PATH: the region to use (default /dev/kshm: the default region; a
  named region is /dev/kshm/NAME, see kshm list)

commands:
${COMMANDS.map((c) => `  ${c.name}${c.usage}`).join('\n')}
  help                          this text

FMT: ${FORMATS.join(' ')} (default: hex; write/kwrite default: u32)
FILE.json: a field map, e.g. {"count": {"at": 0, "type": "u64"}, "name": {"at": 8, "type": "utf8", "length": 16}}
  (types u8..i64 f32 f64 utf8 bytes; "length" for utf8/bytes, "count" for arrays, {"at", "layout"} nests)
A negative VALUE goes after --, e.g. kshm write 8 --as i32 -- -5
--json: machine-readable output (one JSON object per line for watch)
Ctrl-C stops cleanly and releases anything held.`;

/**
 * Every check that needs no device, before one is opened: bad arguments are
 * exit 2 whether a device exists or not. The operand count, every option's
 * value, --layout's file, then the command's own checks (UsageError).
 */
function precheck(command: Command, positionals: string[], opts: Options): void {
  const extra = positionals[command.operands ?? 0];
  if (extra !== undefined) throw new UsageError(`${command.name}: unexpected operand "${extra}" (see kshm help)`);
  for (const name of ['offset', 'length', 'count', 'timeout', 'hold']) {
    if (opts[name] !== undefined) parseNumber(`--${name}`, opts[name]);
  }
  if (opts['as'] !== undefined) parseFormat(opts['as'], 'hex');
  const from = opts['from'];
  if (from !== undefined && from !== 'now' && from !== 'oldest') throw new UsageError(`--from must be now or oldest, got "${from}"`);
  if (opts['layout'] !== undefined) readLayout(opts['layout']);
  command.precheck?.(positionals, opts);
}

/** How the CLI opens a device: {@link openDevice} by default, a fake in specs. */
export type DeviceOpener = (path: string, options: OpenDeviceOptions) => Promise<Device>;

/** How the CLI lists regions: {@link listDevices} by default, a fake's in specs. */
export type DeviceLister = () => DeviceEntry[] | Promise<DeviceEntry[]>;

/** Runs one kshm command; returns the exit code (0, 1 failure, 2 usage, 130 interrupted). */
export async function main(argv: string[], io: Io = processIo, open: DeviceOpener = openDevice,
  list: DeviceLister = listDevices): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        device: { type: 'string' }, json: { type: 'boolean' }, offset: { type: 'string' },
        length: { type: 'string' }, as: { type: 'string' }, count: { type: 'string' },
        timeout: { type: 'string' }, hold: { type: 'string' }, layout: { type: 'string' },
        events: { type: 'boolean' }, from: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`kshm: ${(e as Error).message}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.help || name === 'help') {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (name === undefined) {
    io.err(`${USAGE}\n`);
    return EXIT_USAGE;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`kshm: unknown command "${name}"\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const opts = values as Options;
  try {
    precheck(command, rest, opts);
  } catch (e) {
    io.err(`kshm: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  let device: Device | undefined;
  /** Why the command was told to stop early: Ctrl-C (exit 130), or its reader closed stdout (exit 0). */
  let stopped: 'signal' | 'reader gone' | undefined;
  let stop: () => void = () => {};
  const interrupted = new Promise<void>((resolve) => { stop = resolve; });
  const onSignal = (): void => {
    stopped ??= 'signal';
    stop();
  };
  // `kshm watch | head -1`: the reader went away; stop as quietly as a
  // tool killed by SIGPIPE would, but through the same clean-up as Ctrl-C.
  const onStdoutError = (e: NodeJS.ErrnoException): void => {
    if (e.code !== 'EPIPE') throw e;
    stopped ??= 'reader gone';
    stop();
  };
  const stdoutWatched = io === processIo;
  if (stdoutWatched) process.stdout.on('error', onStdoutError);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (command.opens !== false) device = await open(values.device ?? '/dev/kshm', { readOnly: command.readOnly });
    const ctx: Ctx = {
      device: device as Device, list, json: values.json ?? false, tty: io.isTTY,
      out: (line) => io.out(`${line}\n`), raw: (text) => io.out(text), interrupted,
    };
    await command.run(ctx, rest, opts);
    return stopped === 'signal' ? EXIT_INTERRUPTED : 0;
  } catch (e) {
    if (stopped) return stopped === 'signal' ? EXIT_INTERRUPTED : 0; // a stop ended a wait: nothing else to say
    if (e instanceof UsageError || e instanceof RangeError) {
      io.err(`kshm: ${e.message}\n`);
      return EXIT_USAGE;
    }
    io.err(`kshm: ${e instanceof KshmError ? e.message : (e as Error).stack ?? String(e)}\n`);
    return EXIT_FAILURE;
  } finally {
    device?.close();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    // After an EPIPE, writes still queued fail the same way: keep ignoring them.
    if (stdoutWatched && stopped !== 'reader gone') process.stdout.removeListener('error', onStdoutError);
  }
}
