// SPDX-License-Identifier: MIT
/**
 * Syscalls per job, counted from a trace of every syscall (strace -f, no
 * filter). The measured program writes marker strings to /dev/null around an
 * empty window and around its loop ("KSHM-MARK-empty-BEGIN" ... see
 * bench/c/baseline.c and bench/guest.ts); the count is what the thread that
 * wrote the markers called inside each window, the empty window's count
 * subtracted (the setup never enters a window). Other threads (a JS engine's
 * GC helpers, the libuv pool) are counted apart, as `otherThreads`.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WindowCount {
  /** Syscalls by the marking thread inside the window, by name (markers excluded). */
  byName: Record<string, number>;
  total: number;
  /** Syscalls of any other thread or process of the trace while the window was open. */
  otherThreads: number;
}

export interface SyscallCount {
  /** (loop window - empty window) / ops, every syscall of the marking thread. */
  perOp: number;
  /** The same by name. */
  perOpByName: Record<string, number>;
  empty: WindowCount;
  loop: WindowCount;
  ops: number;
}

const LINE = /^(\d+)\s+(?:<\.\.\. )?([a-z_0-9]+)(\(| resumed>)/;

/** Counts one window of a `strace -f -o` trace; undefined when its markers are not both there. */
export function countWindow(trace: string, what: string): WindowCount | undefined {
  const lines = trace.split('\n');
  const begin = lines.findIndex((l) => l.includes(`"KSHM-MARK-${what}-BEGIN"`));
  const end = lines.findIndex((l, i) => i > begin && l.includes(`"KSHM-MARK-${what}-END"`));
  if (begin < 0 || end < 0) return undefined;
  const tid = LINE.exec(lines[begin] as string)?.[1];
  if (tid === undefined) return undefined;
  const byName: Record<string, number> = {};
  let total = 0;
  let otherThreads = 0;
  for (const line of lines.slice(begin + 1, end)) {
    const m = LINE.exec(line);
    // A call cut in two by another thread's line counts once: at its start.
    if (!m || m[3] !== '(') continue;
    if (m[1] !== tid) {
      otherThreads++;
      continue;
    }
    const name = m[2] as string;
    byName[name] = (byName[name] ?? 0) + 1;
    total++;
  }
  return { byName, total, otherThreads };
}

/** Syscalls per op from a trace with an `empty` and a `loop` window; undefined when a window is missing. */
export function perOp(trace: string, ops: number): SyscallCount | undefined {
  const empty = countWindow(trace, 'empty');
  const loop = countWindow(trace, 'loop');
  if (!empty || !loop || !(ops > 0)) return undefined;
  const perOpByName: Record<string, number> = {};
  for (const name of new Set([...Object.keys(loop.byName), ...Object.keys(empty.byName)])) {
    perOpByName[name] = ((loop.byName[name] ?? 0) - (empty.byName[name] ?? 0)) / ops;
  }
  return { perOp: (loop.total - empty.total) / ops, perOpByName, empty, loop, ops };
}

/**
 * Runs `cmd` under `strace -f` (every syscall) and counts its windows.
 * Throws when strace cannot run or the trace lacks the markers: a broken
 * measurement must never read as a count.
 */
export function traceSyscalls(cmd: string[], ops: number, strace = 'strace'): SyscallCount {
  const dir = mkdtempSync(join(tmpdir(), 'kshm-strace-'));
  try {
    const out = join(dir, 'trace');
    const r = spawnSync(strace, ['-f', '-qq', '-o', out, '--', ...cmd], { encoding: 'utf8' });
    if (r.error) throw new Error(`${strace} could not run: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${strace} ${cmd.join(' ')} exited ${r.status}: ${r.stderr.slice(-500)}`);
    const counted = perOp(readFileSync(out, 'utf8'), ops);
    if (!counted) throw new Error(`no KSHM-MARK windows in the trace of ${cmd.join(' ')}`);
    return counted;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
