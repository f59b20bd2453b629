// SPDX-License-Identifier: MIT
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_REGION_ALT, DEFAULT_REGION_NAME, DEVICE_PATH, REGION_DIR, SYSFS_DIR } from './abi.js';

/** One shared region of the kshm driver, as {@link listDevices} finds it. */
export interface DeviceEntry {
  /** Its device node: pass it to `openDevice`. */
  path: string;
  /** Its name: "default" for the default region. */
  name: string;
  /** Its data pages. */
  pages: number;
}

/** Options of {@link listDevices}. */
export interface ListDevicesOptions {
  /** Where the misc class is (default /sys/class/misc): for tests. */
  sysfs?: string | undefined;
}

const DEFAULT_NAME = DEFAULT_REGION_NAME;

function readValue(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The kshm driver's regions, from sysfs: the default region first, then the
 * named ones by name. The default region's path is /dev/kshm, or
 * /dev/kshm/default while named regions exist (then /dev/kshm is their
 * directory: REGIONS in the uapi header). Empty when the driver is not
 * loaded. Synchronous (a few sysfs files): `await listDevices()` works too.
 *
 * @example
 * ```ts
 * import { listDevices, openDevice } from 'kshm';
 * for (const { path, name, pages } of listDevices()) console.log(name, pages, path);
 * const sensors = await openDevice('/dev/kshm/sensors');
 * ```
 */
export function listDevices(options: ListDevicesOptions = {}): DeviceEntry[] {
  const root = options.sysfs ?? SYSFS_DIR;
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const found: { name: string; pages: number }[] = [];
  for (const entry of names.filter((n) => n === 'kshm' || n.startsWith('kshm!')).sort()) {
    const dir = join(root, entry);
    // A driver from before regions has stats/ only: the default region.
    const name = readValue(dir, 'region/name') ?? (entry === 'kshm' ? DEFAULT_NAME : entry.slice(5));
    const pages = Number(readValue(dir, 'region/pages') ?? readValue(dir, 'stats/pages'));
    if (Number.isInteger(pages) && pages > 0) found.push({ name, pages });
  }
  const named = found.some((r) => r.name !== DEFAULT_NAME);
  return found
    .map(({ name, pages }) => ({
      name,
      pages,
      path: name === DEFAULT_NAME ? (named ? DEFAULT_REGION_ALT : DEVICE_PATH) : `${REGION_DIR}${name}`,
    }))
    .sort((a, b) => (a.name === DEFAULT_NAME ? -1 : b.name === DEFAULT_NAME ? 1 : a.name < b.name ? -1 : 1));
}
