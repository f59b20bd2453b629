// driver/99-kshm.rules, checked for syntax. `udevadm verify` (systemd >= 254)
// is used when the host has it; Debian 12's systemd 252 has not, so the rule
// is also parsed here by the grammar of udev(7): comma-separated
// KEY[{attr}]OP"value" pairs, match-only keys with == or != only, assignment
// keys with = += -= := only, MODE an octal mode, GROUP/OWNER a valid name.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const rulesFile = join(root, 'driver', '99-kshm.rules');
const test = suite('udev rule: driver/99-kshm.rules');

const MATCH_ONLY = new Set(['ACTION', 'DEVPATH', 'KERNEL', 'KERNELS', 'SUBSYSTEM', 'SUBSYSTEMS', 'DRIVER', 'DRIVERS',
  'ATTRS', 'TAGS', 'CONST', 'TEST', 'PROGRAM', 'RESULT']);
const ASSIGN_ONLY = new Set(['OWNER', 'GROUP', 'MODE', 'SECLABEL', 'RUN', 'LABEL', 'GOTO', 'IMPORT', 'OPTIONS']);
const EITHER = new Set(['NAME', 'SYMLINK', 'ATTR', 'SYSCTL', 'ENV', 'TAG']);
const WITH_ATTR = new Set(['ATTR', 'ATTRS', 'SYSCTL', 'ENV', 'CONST', 'TEST', 'SECLABEL', 'RUN', 'IMPORT']);

interface Pair { key: string; attr: string | undefined; op: string; value: string }

/** Parses a rules file; returns the rules (pairs per line) and every syntax error found. */
export function parseRules(text: string): { rules: Pair[][]; errors: string[] } {
  const rules: Pair[][] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `line ${i + 1}`;
    const pairs: Pair[] = [];
    const re = /\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
    let pos = 0;
    while (pos < line.length) {
      re.lastIndex = pos;
      const m = re.exec(line);
      if (!m) {
        errors.push(`${at}: cannot parse from "${line.slice(pos)}"`);
        return;
      }
      const [, key = '', attr, op = '', value = '', sep] = m;
      pairs.push({ key, attr, op, value });
      pos = re.lastIndex;
      if (sep === ',' && pos >= line.length) errors.push(`${at}: trailing comma`);
    }
    for (const p of pairs) {
      const isMatch = p.op === '==' || p.op === '!=';
      if (!MATCH_ONLY.has(p.key) && !ASSIGN_ONLY.has(p.key) && !EITHER.has(p.key)) errors.push(`${at}: unknown key ${p.key}`);
      else if (MATCH_ONLY.has(p.key) && !isMatch) errors.push(`${at}: ${p.key} can only be matched (== or !=), not ${p.op}`);
      else if (ASSIGN_ONLY.has(p.key) && isMatch) errors.push(`${at}: ${p.key} can only be assigned, not ${p.op}`);
      if (WITH_ATTR.has(p.key) !== (p.attr !== undefined) && p.key !== 'RUN' && p.key !== 'IMPORT') {
        errors.push(`${at}: ${p.key} ${p.attr === undefined ? 'needs' : 'takes no'} {attribute}`);
      }
      if (p.key === 'MODE' && !/^0?[0-7]{3}$/.test(p.value)) errors.push(`${at}: MODE "${p.value}" is not an octal mode`);
      if ((p.key === 'GROUP' || p.key === 'OWNER') && !/^[a-z_][a-z0-9_-]*$/.test(p.value)) {
        errors.push(`${at}: ${p.key} "${p.value}" is not a valid name`);
      }
    }
    if (!pairs.some((p) => p.op !== '==' && p.op !== '!=')) errors.push(`${at}: the rule assigns nothing`);
    rules.push(pairs);
  });
  return { rules, errors };
}

test('the rule parses by udev(7)\'s grammar', () => {
  const { rules, errors } = parseRules(readFileSync(rulesFile, 'utf8'));
  assert.equal(errors, []);
  assert.is(rules.length, 1);
});

test('it gives group kshm read and write on every region\'s misc device, and nothing more', () => {
  const [rule = []] = parseRules(readFileSync(rulesFile, 'utf8')).rules;
  const get = (key: string, op: string): string | undefined => rule.find((p) => p.key === key && p.op === op)?.value;
  // The default region ("kshm") and the named ones ("kshm/NAME", which udev
  // names as the kernel does, with sysfs's '!' back to '/').
  assert.is(get('KERNEL', '=='), 'kshm|kshm/*');
  assert.is(get('SUBSYSTEM', '=='), 'misc');
  assert.is(get('GROUP', '='), 'kshm');
  assert.is(get('MODE', '='), '0660');
  // The devices' names are the driver's misc device names.
  const regions = readFileSync(join(root, 'driver', 'kshm_region.c'), 'utf8');
  assert.match(regions, /#define KSHM_DEFAULT_DEVNAME\s+"kshm"/);
  assert.match(regions, /"kshm\/%s", name\)/);
});

test('the checker finds the mistakes it is there for', () => {
  const bad = (line: string): string[] => parseRules(`${line}\n`).errors;
  assert.ok(bad('KERNEL="kshm", MODE="0660"').some((e) => e.includes('can only be matched')));
  assert.ok(bad('KERNEL=="kshm", MODE=="0660"').some((e) => e.includes('can only be assigned')));
  assert.ok(bad('KERNEL=="kshm", MODE="0690"').some((e) => e.includes('octal')));
  assert.ok(bad('KERNEL=="kshm", GROUP=kshm').some((e) => e.includes('cannot parse')));
  assert.ok(bad('KERNEL=="kshm", GROPU="kshm"').some((e) => e.includes('unknown key')));
  assert.ok(bad('KERNEL=="kshm", SUBSYSTEM=="misc"').some((e) => e.includes('assigns nothing')));
  assert.ok(bad('KERNEL=="kshm", GROUP="kshm",').some((e) => e.includes('trailing comma')));
  assert.equal(bad('KERNEL=="kshm", SUBSYSTEM=="misc", MODE="0660", GROUP="kshm"'), []);
});

test('udevadm verify accepts it, where the host has udevadm verify (systemd >= 254)', () => {
  const has = spawnSync('udevadm', ['verify', '--help'], { stdio: 'ignore' }).status === 0;
  if (!has) {
    console.log('  (no udevadm verify on this host: the grammar check above stands in)');
    return;
  }
  const r = spawnSync('udevadm', ['verify', '--resolve-names=never', rulesFile], { encoding: 'utf8' });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
});

test.run();
