// lib/abi.ts and the koffi struct definitions against the C compiler's view
// of driver/include/uapi/kshm.h and native-shim/kshm.h (build/spec-c/abi_json):
// any drift fails here.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as abi from '../../lib/abi.js';
import { KSHM_E_ABI, KSHM_E_MAGIC, OPEN_NO_FASTPATH, OPEN_READONLY, STRUCTS } from '../../lib/native/libkshm.js';

interface CAbi {
  constants: Record<string, number>;
  structs: Record<string, { size: number; fields: Record<string, number> }>;
}

const test = suite('abi (lib/abi.ts and koffi against C)');
const program = fileURLToPath(new URL('../../../build/spec-c/abi_json', import.meta.url));
const c = JSON.parse(execFileSync(program, { encoding: 'utf8' })) as CAbi;

test('every constant of lib/abi.ts is the C constant of the same name', () => {
  const checked: string[] = [];
  for (const [name, value] of Object.entries(abi)) {
    if (name === 'CTRL' || name === 'CTRL_SIZE' || name === 'TICK_SIZE') continue;
    if (name === 'EVENT_REC' || name === 'EVENT_REC_SIZE') continue;
    assert.is(value, c.constants[`KSHM_${name}`], name);
    checked.push(name);
  }
  assert.ok(checked.length >= 10);
});

test('struct kshm_ctrl: every field lib/abi.ts names, at its offset; the sizes of kshm_ctrl and kshm_tick', () => {
  const ctrl = c.structs['kshm_ctrl'];
  for (const [field, offset] of Object.entries(abi.CTRL)) assert.is(offset, ctrl?.fields[field], `CTRL.${field}`);
  assert.is(abi.CTRL_SIZE, ctrl?.size);
  assert.is(abi.TICK_SIZE, c.structs['kshm_tick']?.size);
});

test('struct kshm_event_rec (libkshm): every field lib/abi.ts names, at its offset, and its size', () => {
  const rec = c.structs['kshm_event_rec'];
  for (const [field, offset] of Object.entries(abi.EVENT_REC)) assert.is(offset, rec?.fields[field], `EVENT_REC.${field}`);
  assert.equal(Object.keys(abi.EVENT_REC), Object.keys(rec?.fields ?? {}));
  assert.is(abi.EVENT_REC_SIZE, rec?.size);
});

test("libkshm's own constants", () => {
  assert.is(KSHM_E_ABI, c.constants['KSHM_E_ABI']);
  assert.is(KSHM_E_MAGIC, c.constants['KSHM_E_MAGIC']);
  assert.is(OPEN_READONLY, c.constants['KSHM_OPEN_READONLY']);
  assert.is(OPEN_NO_FASTPATH, c.constants['KSHM_OPEN_NO_FASTPATH']);
});

test('the koffi structs have the C fields, offsets and sizes', () => {
  for (const [name, type] of Object.entries(STRUCTS)) {
    const want = c.structs[name];
    assert.ok(want, name);
    assert.is(koffi.sizeof(type), want?.size, `sizeof ${name}`);
    const fields = Object.keys(want?.fields ?? {});
    for (const field of fields) assert.is(koffi.offsetof(type, field), want?.fields[field], `${name}.${field}`);
    assert.equal(Object.keys((koffi.type(type) as unknown as { members: object }).members), fields, `${name}: the same fields in order`);
  }
});

test.run();
