#!/usr/bin/env node
// npm pack's last build step (prepack, after `npm run build`): what the
// package ships is made small without changing what it does.
//
// - The JavaScript is compiled again without comments (tsconfig.pack.json),
//   since the documentation ships in the .d.ts files that editors read, then
//   minified by terser (compress + mangle of local names; class names kept, so
//   every error class keeps its name). Each file keeps its SPDX licence line
//   and its shebang, and must still parse (node --check).
// - Declarations that no public entry point reaches (the package's "types"
//   and each "exports" entry, followed through their imports) are internal:
//   they are not shipped. The public ones are left as built.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { minify } from 'terser';
import { repoRoot } from './kernels.mjs';

const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.pack.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

const SPDX = '// SPDX-License-Identifier: MIT';

function files(dir, suffix, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) files(p, suffix, out);
    else if (e.name.endsWith(suffix)) out.push(p);
  }
  return out;
}

for (const p of ['lib', 'cli'].flatMap((d) => files(join(repoRoot, 'dist', d), '.js'))) {
  const text = readFileSync(p, 'utf8');
  const out = await minify(text, {
    module: true,
    compress: { passes: 2 },
    mangle: true,
    keep_classnames: true,
    format: { comments: false, shebang: true },
  });
  if (out.code === undefined) throw new Error(`terser produced nothing for ${p}`);
  const shebang = out.code.startsWith('#!') ? out.code.slice(0, out.code.indexOf('\n') + 1) : '';
  writeFileSync(p, `${shebang}${SPDX}\n${out.code.slice(shebang.length)}\n`);
  const check = spawnSync(process.execPath, ['--check', p], { stdio: 'inherit' });
  if (check.status !== 0) process.exit(1);
}

// The declarations reachable from the package's public entry points.
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const entries = [pkg.types, ...Object.values(pkg.exports).map((e) => e?.types)].filter(Boolean);
const reached = new Set();
const visit = (file) => {
  if (reached.has(file) || !existsSync(file)) return;
  reached.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    visit(resolve(dirname(file), m[1].replace(/\.js$/, '.d.ts')));
  }
};
for (const e of entries) visit(resolve(repoRoot, e));
if (reached.size === 0) throw new Error('no public declarations found: check package.json "types"/"exports"');
for (const p of files(join(repoRoot, 'dist', 'lib'), '.d.ts')) {
  if (!reached.has(resolve(p))) rmSync(p);
}
