#!/usr/bin/env node
// node harness/uvu-timed.mjs DIR PATTERN   (or: FILE...)
//
// uvu's own runner (uvu/run: every file's suites in this one process, one
// totals block at the end) plus one line per spec file with the seconds its
// suites took, so a slow guest run shows where the time went:
//   ## timing: events.spec.js 23.4 s
import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
let files;
if (args.length === 2 && statSync(args[0], { throwIfNoEntry: false })?.isDirectory()) {
  const re = new RegExp(args[1]);
  const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = join(d, e.name);
    return e.isDirectory() ? walk(p) : re.test(p) ? [p] : [];
  });
  files = walk(resolve(args[0])).sort();
} else {
  files = args.map((f) => resolve(f));
}
if (files.length === 0) {
  console.error(`uvu-timed: no spec files in ${args.join(' ')}`);
  process.exit(1);
}

globalThis.UVU_DEFER = 1;
const uvu = await import('uvu');
const seconds = [];
for (const [i, file] of files.entries()) {
  globalThis.UVU_INDEX = i;
  globalThis.UVU_QUEUE.push([basename(file)]);
  seconds.push(0);
  await import(pathToFileURL(file).href);
  // Each queued entry after the name runs one suite: time it for its file.
  const group = globalThis.UVU_QUEUE[i];
  for (let j = 1; j < group.length; j++) {
    const suite = group[j];
    group[j] = async () => {
      const t0 = Date.now();
      try {
        return await suite();
      } finally {
        seconds[i] += (Date.now() - t0) / 1000;
      }
    };
  }
}
await uvu.exec();
for (const [i, file] of files.entries()) console.log(`## timing: ${basename(file)} ${seconds[i].toFixed(1)} s`);
