// A consumer's marble test: the app's own rxjs TestScheduler drives the fake
// device in virtual time (3 minutes of ticks, in a few milliseconds).
import assert from 'node:assert/strict';
import { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { createFakeDevice } from 'kshm/testing';

const started = Date.now();
let ran = false;
new TestScheduler((a, b) => assert.deepEqual(a, b)).run(({ cold, expectObservable }) => {
  const fake = createFakeDevice();
  fake.kernel.setTickMs(60_000);
  cold('4m x').subscribe(() => fake.kernel.setTickMs(0)); // the ticker would run forever
  const counts = fake.select$((s) => s.tick().count);
  // One Observable class: the one of the app's rxjs.
  assert.ok(counts instanceof Observable, 'kshm/testing returns the app\'s Observable');
  expectObservable(counts, '^ 3m !').toBe('a 59999ms b 59999ms c 59999ms d', { a: 0n, b: 1n, c: 2n, d: 3n });
  ran = true;
});
assert.ok(ran);
console.log(JSON.stringify({ ok: true, wallMs: Date.now() - started }));
