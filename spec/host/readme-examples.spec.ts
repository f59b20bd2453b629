// Every `ts` example of README.md and of kshm/testing's documentation (its
// JSDoc) is compiled as an app would compile it (strict,
// exactOptionalPropertyTypes, noUncheckedIndexedAccess, NodeNext, against the
// package's own .d.ts files: `tsc -p .` first) and run (issue 18).
//
// Decisions: examples that open the real device run against the fake: the
// compiled example imports 'kshm' through a module that re-exports kshm with
// `openDevice` swapped for `createFakeDevice`. Names an example only refers to
// (device, snapshot, readings$, ...) come from a prelude, which also imports
// what the example uses from kshm, kshm/testing and rxjs without importing it.
// An example passes when it compiles with no error and its process exits 0
// within its time limit (an unhandled error or a hang fails it).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as rxjs from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as kshm from '../../lib/index.js';

const test = suite('README and kshm/testing examples (compiled and run)');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = join(root, 'build', 'readme-examples');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

interface Example { name: string; code: string }

/** The ```ts blocks of a markdown text. */
function markdownExamples(file: string): Example[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => {
    const line = text.slice(0, m.index).split('\n').length;
    return { name: `${file}:${line}`, code: m[1] as string };
  });
}

/** The ```ts blocks inside the JSDoc comments of a source file. */
function jsdocExamples(file: string): Example[] {
  const text = readFileSync(join(root, file), 'utf8');
  const out: Example[] = [];
  for (const m of text.matchAll(/^\s*\* ```ts\n([\s\S]*?)^\s*\* ```$/gm)) {
    const line = text.slice(0, m.index).split('\n').length;
    const code = (m[1] as string).split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n');
    out.push({ name: `${file}:${line}`, code });
  }
  return out;
}

const examples = [
  ...markdownExamples('README.md'),
  ...jsdocExamples('lib/testing/index.ts'),
  ...jsdocExamples('lib/testing/fake-region.ts'),
  ...jsdocExamples('lib/testing/fake-backend.ts'),
];

/** Values the examples refer to without declaring them: name -> declaration. */
const FIXTURES: Record<string, string> = {
  device: 'const device = await openDevice();',
  snapshot: 'const snapshot = await __firstValueFrom(device.snapshots$);',
  fn: 'const fn = (page: Page): number => page.u32(0);',
  repair: 'const repair = (page: Page): void => { page.setU32(0, 0); };',
  computeSlowly: 'const computeSlowly = async (n: number): Promise<number> => n + 1;',
  fetchNextValue: 'const fetchNextValue = async (): Promise<number> => 42;',
  retryLater: 'const retryLater = (): void => {};',
  readings: 'const readings = [1.5, 2.5];',
  readings$: 'const readings$ = __of(1.5, 2.5);',
};
/** What fixtures need besides themselves. */
const FIXTURE_NEEDS: Record<string, string[]> = {
  snapshot: ['device'], fn: ['Page'], repair: ['Page'],
};

const KSHM_TYPES = ['Device', 'Lease', 'TransactionOptions', 'KernelWriteOptions', 'DeviceInfo', 'DeviceInfoJSON',
  'Backend', 'OpenDeviceOptions', 'Layout', 'FieldMap', 'LayoutValue', 'EventsOptions', 'RawEvent'];
const TESTING = ['createFakeDevice', 'createFakeKshm', 'FakeDevice', 'FakeKernel', 'FakeKshm'];

const uses = (code: string, name: string): boolean =>
  new RegExp(`(?<![\\w$.'"])${name.replace(/\$/g, '\\$')}(?![\\w$])(?!\\s*:(?!:))`).test(code);
const declares = (code: string, name: string): boolean =>
  new RegExp(`(?:\\b(?:const|let|var|function|class|using)\\s+|\\bimport\\b[^;]*[{,\\s])${name.replace(/\$/g, '\\$')}(?![\\w$])`).test(code);

/** The example as a module: a prelude of the imports and fixtures it needs, then the example. */
function moduleOf(code: string): string {
  const lines: string[] = [];
  const need = new Set(Object.keys(FIXTURES).filter((n) => uses(code, n) && !declares(code, n)));
  for (const n of [...need]) for (const m of FIXTURE_NEEDS[n] ?? []) if (!declares(code, m)) need.add(m);
  const all = `${code}\n${[...need].map((n) => FIXTURES[n] ?? '').join('\n')}`;
  const kshmValues = Object.keys(kshm).filter((n) => uses(all, n) && !declares(code, n));
  const kshmTypes = KSHM_TYPES.filter((n) => uses(all, n) && !declares(code, n));
  if (need.has('Page') && !declares(code, 'Page') && !kshmValues.includes('Page')) kshmValues.push('Page');
  if (kshmValues.length + kshmTypes.length > 0) {
    lines.push(`import { ${[...kshmValues, ...kshmTypes.map((t) => `type ${t}`)].join(', ')} } from 'kshm';`);
  }
  const testing = TESTING.filter((n) => uses(code, n) && !declares(code, n));
  if (testing.length > 0) lines.push(`import { ${testing.join(', ')} } from 'kshm/testing';`);
  const rx = Object.keys(rxjs).filter((n) => new RegExp(`(?<![\\w$.])${n}\\s*\\(`).test(code) && !declares(code, n));
  if (rx.length > 0) lines.push(`import { ${rx.join(', ')} } from 'rxjs';`);
  lines.push("import { firstValueFrom as __firstValueFrom, of as __of } from 'rxjs';");
  if (uses(code, 'assert') && !declares(code, 'assert')) lines.push("import assert from 'node:assert/strict';");
  for (const n of Object.keys(FIXTURES)) if (need.has(n)) lines.push(FIXTURES[n] as string);
  lines.push('// ---- the example ----');
  return `${lines.join('\n')}\n${code}\nexport {};\n`;
}

/** 'kshm' as the examples run: the package with openDevice opening a fake. */
const INJECTED = `export * from 'kshm';
import { createFakeDevice } from 'kshm/testing';
/** openDevice, swapped for a fake device (the examples run without a driver). */
export async function openDevice(path = '/dev/kshm', options = {}) {
  void path;
  return createFakeDevice({ readOnly: options.readOnly, fastPath: options.fastPath, ring: 4096 });
}
`;

test('there are examples from both README.md and kshm/testing', () => {
  assert.ok(examples.filter((e) => e.name.startsWith('README')).length >= 12, 'README examples');
  assert.ok(examples.filter((e) => e.name.startsWith('lib/testing')).length >= 3, 'kshm/testing examples');
});

test('"Testing your app": each example is complete as a user pastes it (the prelude adds nothing)', () => {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const start = text.indexOf('\n## Testing your app');
  assert.ok(start >= 0, 'the section exists');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
  assert.ok(blocks.length >= 2, 'its examples');
  for (const code of blocks) {
    const prelude = (moduleOf(code).split('// ---- the example ----')[0] as string).split('\n')
      .filter((l) => l !== '' && !l.includes('__firstValueFrom'));
    assert.equal(prelude, [], `an example of "Testing your app" needs what it does not import:\n${code}`);
  }
});

test('every example compiles with strict and exactOptionalPropertyTypes, and runs to exit 0 (openDevice: the fake)', () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'src'), { recursive: true });
  const files = examples.map((e, i) => {
    const file = `ex${String(i).padStart(2, '0')}`;
    writeFileSync(join(dir, 'src', `${file}.mts`), `// ${e.name}\n${moduleOf(e.code)}`);
    return { ...e, file };
  });
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'es2022', lib: ['es2022'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'],
      strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, skipLibCheck: false,
      rootDir: 'src', outDir: 'out',
    },
    include: ['src/*.mts'],
  }, null, 2));
  const c = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'],
    { cwd: root, encoding: 'utf8', timeout: 180_000 });
  const out = `${c.stdout}${c.stderr}`.trim();
  // Name the example of each error, so a broken one is easy to find.
  const named = out.replace(/src[\\/](ex\d+)\.mts/g, (m, f: string) => `${m} [${files.find((x) => x.file === f)?.name}]`);
  assert.is(named, '', 'compiler errors');
  assert.is(c.status, 0);
  writeFileSync(join(dir, 'out', 'kshm-injected.mjs'), INJECTED);
  const failures: string[] = [];
  for (const f of files) {
    const js = join(dir, 'out', `${f.file}.mjs`);
    writeFileSync(js, readFileSync(js, 'utf8').replace(/from 'kshm'/g, "from './kshm-injected.mjs'"));
    const r = spawnSync(process.execPath, [js], { cwd: root, encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } });
    if (r.status !== 0) failures.push(`${f.name} (${f.file}): status ${r.status} ${r.signal ?? ''}\n${r.stderr.slice(0, 1500)}`);
  }
  assert.equal(failures, []);
});

test.run();
