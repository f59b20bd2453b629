// SPDX-License-Identifier: MIT
// Rendering shared by the CLI and the dashboard.
import type { DeviceInfo, Snapshot } from '../lib/index.js';

export const FORMATS = ['hex', 'u8', 'u16', 'u32', 'u64', 'i8', 'i16', 'i32', 'i64', 'f32', 'f64', 'utf8'] as const;
export type Format = (typeof FORMATS)[number];

export const WIDTH: Record<Format, number> = {
  hex: 1, u8: 1, u16: 2, u32: 4, u64: 8, i8: 1, i16: 2, i32: 4, i64: 8, f32: 4, f64: 8, utf8: 1,
};

/** JSON with bigints as numbers when safe, else as strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
  });
}

/** The values of `length` bytes at `offset`, read as `format`. */
export function readValues(s: Snapshot, offset: number, length: number, format: Format): Array<number | bigint | string> {
  if (format === 'utf8') return [s.utf8(offset, length)];
  if (format === 'hex') return [...s.slice(offset, length)];
  const w = WIDTH[format];
  const out: Array<number | bigint> = [];
  for (let o = offset; o + w <= offset + length; o += w) out.push((s[format] as (o: number) => number | bigint).call(s, o));
  return out;
}

const hex2 = (b: number): string => b.toString(16).padStart(2, '0');

/**
 * Text for `length` bytes at `offset`. With `previous`, changed bytes are
 * wrapped in `mark` (ANSI inverse on a TTY).
 */
export function render(s: Snapshot, offset: number, length: number, format: Format,
  previous?: Snapshot, mark: [string, string] = ['', '']): string {
  if (format === 'hex') {
    const bytes = s.slice(offset, length);
    const before = previous?.slice(offset, length);
    const lines: string[] = [];
    for (let i = 0; i < bytes.length; i += 16) {
      const cells: string[] = [];
      for (let j = i; j < Math.min(i + 16, bytes.length); j++) {
        const b = bytes[j] as number;
        const changed = before !== undefined && before[j] !== b;
        cells.push(changed ? `${mark[0]}${hex2(b)}${mark[1]}` : hex2(b));
      }
      const ascii = [...bytes.subarray(i, i + 16)].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${(offset + i).toString(16).padStart(6, '0')}  ${cells.join(' ')}  ${ascii}`);
    }
    return lines.join('\n');
  }
  const values = readValues(s, offset, length, format);
  if (format === 'utf8') return JSON.stringify(values[0]);
  const old = previous ? readValues(previous, offset, length, format) : undefined;
  return values.map((v, i) => (old && old[i] !== v ? `${mark[0]}${v}${mark[1]}` : String(v))).join(' ');
}

export function holderText(info: DeviceInfo): string {
  if (!info.locked) return 'free';
  return info.kernelHolds ? 'the kernel' : `pid ${info.holderPid}`;
}

export function infoText(path: string, info: DeviceInfo): string {
  const c = info.counters;
  const rows: Array<[string, string | number | bigint]> = [
    ['device', path],
    ['abi version', info.abiVersion],
    ['pages', `${info.pages} x ${info.pageSize} = ${info.size} bytes`],
    ['generation', info.generation],
    ['lock', holderText(info)],
    ['waiters', info.waiters],
    ['owner died', info.ownerDied ? 'yes (not repaired yet)' : 'no'],
    ['tick_ms', info.tickMs === 0 ? '0 (ticker off)' : info.tickMs],
    ['locks granted', c.locksGranted],
    ['  contended', c.locksContended],
    ['  timed out', c.lockTimeouts],
    ['  cancelled', c.lockCancels],
    ['owner-died recoveries', c.ownerDied],
    ['commits', c.commits],
    ['aborts', c.aborts],
    ['kernel writes', c.kernelWrites],
    ['ticks', c.ticks],
    ['ticks skipped', c.ticksSkipped],
    ['lock words reclaimed', c.lockReclaims],
  ];
  return rows.map(([k, v]) => `${k.padEnd(22)} ${v}`).join('\n');
}

/** Parses VALUE for `write`/`kwrite`, as bytes in the given format. */
export function encodeValue(text: string, format: Format): Uint8Array {
  const w = WIDTH[format];
  const view = (n: number): [Uint8Array, DataView] => {
    const b = new Uint8Array(n);
    return [b, new DataView(b.buffer)];
  };
  const int = (): number => {
    const v = Number(text);
    if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(text) || !Number.isSafeInteger(v)) throw new RangeError(`"${text}" is not a whole number`);
    return v;
  };
  const big = (): bigint => {
    if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(text)) throw new RangeError(`"${text}" is not a whole number`);
    return text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text);
  };
  const ranged = (v: number, min: number, max: number): number => {
    if (v < min || v > max) throw new RangeError(`${text} does not fit in ${format} (${min}..${max})`);
    return v;
  };
  const [b, dv] = view(w);
  switch (format) {
    case 'utf8': return new TextEncoder().encode(text);
    case 'hex': {
      const clean = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
      if (!/^([0-9a-f]{2})+$/i.test(clean)) throw new RangeError(`"${text}" is not hex bytes (e.g. 0a0b0c)`);
      return Uint8Array.from(clean.match(/../g) as string[], (h) => parseInt(h, 16));
    }
    case 'u8': dv.setUint8(0, ranged(int(), 0, 0xff)); break;
    case 'u16': dv.setUint16(0, ranged(int(), 0, 0xffff), true); break;
    case 'u32': dv.setUint32(0, ranged(int(), 0, 0xffffffff), true); break;
    case 'i8': dv.setInt8(0, ranged(int(), -0x80, 0x7f)); break;
    case 'i16': dv.setInt16(0, ranged(int(), -0x8000, 0x7fff), true); break;
    case 'i32': dv.setInt32(0, ranged(int(), -0x80000000, 0x7fffffff), true); break;
    case 'u64': {
      const v = big();
      if (v < 0n || v >= 1n << 64n) throw new RangeError(`${text} does not fit in u64`);
      dv.setBigUint64(0, v, true);
      break;
    }
    case 'i64': {
      const v = big();
      if (v < -(1n << 63n) || v >= 1n << 63n) throw new RangeError(`${text} does not fit in i64`);
      dv.setBigInt64(0, v, true);
      break;
    }
    case 'f32': case 'f64': {
      const v = Number(text);
      if (text.trim() === '' || Number.isNaN(v) && text.trim().toLowerCase() !== 'nan') throw new RangeError(`"${text}" is not a number`);
      if (format === 'f32') dv.setFloat32(0, v, true);
      else dv.setFloat64(0, v, true);
      break;
    }
  }
  return b;
}

/** A layout's values made plain for JSON: byte arrays as arrays of numbers (bigints stay for toJson). */
export function plainFields(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plainFields);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainFields(v)]));
  }
  return value;
}

/** One `name  value` row per field of a layout's values; nested fields as `outer.inner`. */
export function fieldRows(value: Record<string, unknown>, prefix = ''): string[] {
  const show = (v: unknown): string => {
    if (v instanceof Uint8Array) return [...v].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
    if (typeof v === 'string') return JSON.stringify(v);
    return String(v);
  };
  const rows: string[] = [];
  for (const [name, v] of Object.entries(value)) {
    const path = `${prefix}${name}`;
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v)) {
      rows.push(...fieldRows(v as Record<string, unknown>, `${path}.`));
    } else if (Array.isArray(v) && v.some((e) => e !== null && typeof e === 'object' && !(e instanceof Uint8Array))) {
      v.forEach((e, i) => rows.push(...fieldRows(e as Record<string, unknown>, `${path}[${i}].`)));
    } else {
      rows.push(`${path}  ${show(v)}`);
    }
  }
  const width = Math.max(0, ...rows.map((r) => r.indexOf('  ')));
  return rows.map((r) => {
    const at = r.indexOf('  ');
    return `${r.slice(0, at).padEnd(width)}  ${r.slice(at + 2)}`;
  });
}
