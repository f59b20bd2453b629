// Type-level tests of typed layouts, run by the TypeScript compiler against
// the package's own .d.ts files (dist/, as an app sees kshm): spec/types/
// must-compile.ts asserts the inferred types exactly (with and without
// exactOptionalPropertyTypes), and must-not-compile.ts must fail on every
// line marked `@ts-expect-error TSnnnn`, with that code and nowhere else.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('layout types (tsc)');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const types = join(root, 'spec', 'types');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function compile(project: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('must-compile.ts and every @ts-expect-error of must-not-compile.ts (exactOptionalPropertyTypes: true)', () => {
  const r = compile(join(types, 'tsconfig.json'));
  assert.is(r.out.trim(), '');
  assert.is(r.status, 0);
});

test('must-compile.ts without exactOptionalPropertyTypes', () => {
  const r = compile(join(types, 'tsconfig.loose.json'));
  assert.is(r.out.trim(), '');
  assert.is(r.status, 0);
});

test('must-not-compile.ts without its directives fails on each marked line, with the code given', () => {
  const source = readFileSync(join(types, 'must-not-compile.ts'), 'utf8');
  const expected: string[] = [];
  const lines = source.split('\n').map((line, i) => {
    const m = /^\s*\/\/ @ts-expect-error (TS\d+)$/.exec(line);
    if (!m) return line;
    expected.push(`${i + 2}: ${m[1]}`); // the error is on the next line
    return '// (expected error on the next line)';
  });
  assert.ok(expected.length >= 25, `only ${expected.length} expected errors`);
  // Beside the original (the same relative imports and package), under build/.
  const dir = join(root, 'build', 'type-tests');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'must-not-compile.ts'), lines.join('\n').replace("'./equal.js'", "'../../spec/types/equal.js'"));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: '../../spec/types/tsconfig.json',
    files: ['must-not-compile.ts'],
  }));
  const r = compile(join(dir, 'tsconfig.json'));
  assert.is.not(r.status, 0);
  const actual = [...r.out.matchAll(/^(?:.*[\\/])?must-not-compile\.ts\((\d+),\d+\): error (TS\d+)/gm)]
    .map((m) => `${m[1]}: ${m[2]}`);
  const otherErrors = r.out.split('\n').filter((l) => / error TS\d+/.test(l) && !/must-not-compile\.ts\(/.test(l));
  assert.equal(otherErrors, []);
  assert.equal([...new Set(actual)].sort(), [...expected].sort());
});

test('the declaration output shows no internals (issue 18): pages and snapshots, and the index', () => {
  const dist = join(root, 'dist', 'lib');
  const page = readFileSync(join(dist, 'page.d.ts'), 'utf8');
  const pageClass = page.slice(page.indexOf('export declare class Page'), page.indexOf('\n}', page.indexOf('export declare class Page')));
  for (const name of ['end', 'rollback', 'committedBytes', 'keep', 'undoInto']) {
    assert.not.match(pageClass, new RegExp(`\\b${name}\\(`), `Page.${name}`);
  }
  assert.match(pageClass, /private constructor\(\);/);
  const snapshot = readFileSync(join(dist, 'snapshot.d.ts'), 'utf8');
  const snapshotClass = snapshot.slice(snapshot.indexOf('export declare class Snapshot'));
  assert.not.match(snapshotClass.slice(0, snapshotClass.indexOf('\n}')), /\bseq\b/);
  assert.match(snapshotClass, /private constructor\(\);/);
  const index = readFileSync(join(dist, 'index.d.ts'), 'utf8');
  for (const name of ['createPage', 'endPage', 'committedBytes', 'createSnapshot', 'snapshotSeq', 'LockQueue']) {
    assert.not.match(index, new RegExp(`\\b${name}\\b`), name);
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  assert.equal(Object.keys(pkg.exports).sort(), ['.', './package.json', './testing']);
});

test.run();
