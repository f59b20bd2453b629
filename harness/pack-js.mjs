#!/usr/bin/env node
// npm pack's last build step (prepack, after `npm run build`): the JavaScript
// the package ships is compiled again without comments (tsconfig.pack.json),
// since the documentation ships in the .d.ts files that editors read, and
// without indentation, except inside a multi-line template literal (a line
// with an odd number of backticks opens or closes one: such lines and those
// between are kept as they are). Each file keeps its SPDX licence line and
// must still parse (node --check). The .d.ts files are left as built.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './kernels.mjs';

const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.pack.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

const SPDX = '// SPDX-License-Identifier: MIT';
function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.js')) {
      const text = readFileSync(p, 'utf8');
      const shebang = text.startsWith('#!') ? text.slice(0, text.indexOf('\n') + 1) : '';
      let inTemplate = false;
      const lines = text.slice(shebang.length).split('\n').map((line) => {
        const keep = inTemplate;
        if ((line.match(/`/g) ?? []).length % 2 === 1) inTemplate = !inTemplate;
        return keep || inTemplate ? line : line.trimStart();
      });
      const spdx = text.includes(SPDX) ? '' : `${SPDX}\n`;
      writeFileSync(p, `${shebang}${spdx}${lines.join('\n')}`);
      const check = spawnSync(process.execPath, ['--check', p], { stdio: 'inherit' });
      if (check.status !== 0) process.exit(1);
    }
  }
}
for (const d of ['lib', 'cli']) walk(join(repoRoot, 'dist', d));
