// npm start's demo (cli/demo.ts) and harness/start.mjs: bad arguments are a
// clear message and exit 2, checked before a device is opened or a guest
// boots (this host has no /dev/kshm: start.mjs would boot one).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('npm start: arguments');
const demo = fileURLToPath(new URL('../../../cli/demo.js', import.meta.url));
const start = fileURLToPath(new URL('../../../../harness/start.mjs', import.meta.url));

function run(script: string, args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('bad arguments: exit 2, one clear line and the usage, no stack trace, no guest booted', () => {
  for (const script of [demo, start]) {
    for (const args of [['--bogus'], ['--duration', 'abc'], ['--duration', '0'], ['--duration'], ['extra'],
      ['--tick-ms', 'fast']]) {
      const r = run(script, args);
      const what = `${script.endsWith('start.mjs') ? 'start.mjs' : 'demo'} ${args.join(' ')}`;
      assert.is(r.code, 2, `${what}: exit ${r.code}\n${r.out}${r.err}`);
      assert.match(r.err, /^demo: .+\nusage: npm start/, what);
      assert.not.match(r.err, /^\s+at /m, `${what}: a stack trace`);
      assert.not.match(r.out, /running the demo inside/, `${what}: booted a guest`);
    }
  }
});

test('--help: the usage on stdout, exit 0, no guest booted', () => {
  for (const script of [demo, start]) {
    const r = run(script, ['--help']);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /^usage: npm start .*--duration S/);
    assert.not.match(r.out, /running the demo inside/);
  }
});

test('a missing --device: exit 1 with how to get one, no stack trace', () => {
  const r = run(demo, ['--device', '/dev/kshm-nope', '--duration', '1']);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /^demo: \/dev\/kshm-nope does not exist/);
  assert.not.match(r.err, /^\s+at /m);
});

test.run();
