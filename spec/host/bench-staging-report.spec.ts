// bench/staging.bench.mjs as bench/report.mjs renders it into BENCHMARKS.md:
// the headline ratio shows (a number, not a string), the columns say what is
// measured (both sides are the library), and an in-place loop slower than
// the whole API transaction is flagged as a broken measurement.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('bench staging report');
const root = fileURLToPath(new URL('../../../', import.meta.url));

type Module = { stagingResult(host: unknown, guest: unknown): Record<string, any> };
type Report = { render(results: unknown): { markdown: string } };
const load = async (): Promise<[Module, Report]> => [
  await import(pathToFileURL(join(root, 'bench/staging.bench.mjs')).href) as Module,
  await import(pathToFileURL(join(root, 'bench/report.mjs')).href) as Report,
];

const path = (stagedCommitNs: number, inPlaceCommitNs: number, syncTransactionNs: number): Record<string, unknown> => ({
  stagedCommitNs, inPlaceCommitNs, ratio: stagedCommitNs / inPlaceCommitNs,
  api: { syncTransactionNs, leaseCommitNs: 3200, asyncTransactionNs: 5000 },
});
const wake = { pollWakeMs: { median: 1.1, max: 11 }, firstSnapshotDuringLeaseMs: { median: 4.4, max: 4.8 } };
const host = { fastPath: path(264, 130, 220), ioctlPath: path(700, 600, 800) };
const guest = { fastPath: wake, ioctlPath: wake };

test('the headline ratio renders as a figure (the worse path), not n/a', async () => {
  const [m, report] = await load();
  const x = m.stagingResult(host, guest);
  assert.type(x['headline'][0][1], 'number');
  const md = report.render({ extra: { staging: x } }).markdown;
  assert.match(md, /\| staged 64 B commit \/ in-place commit \(host\)[^|]*\| 2\.03 \| <= 1\.5 \| host stand-in \|/);
  assert.not.match(md.slice(md.indexOf('## staging')), /\| n\/a \|/);
});

test('the rows\' columns say what is measured against what (both are the library), not library and C', async () => {
  const [m, report] = await load();
  const md = report.render({ extra: { staging: m.stagingResult(host, guest) } }).markdown;
  const section = md.slice(md.indexOf('## staging'));
  assert.match(section, /\| figure \| measured \| compared with \| note \|/);
  assert.not.match(section, /\| figure \| library \| C \| note \|/);
  assert.match(section, /staged 64 B commit \(left\) vs in-place commit \(right\), library, fast path[^|]*\| 264 ns \| 130 ns \| 2\.03x/);
  // A module that names no columns keeps the library and C.
  const plain = report.render({ extra: { other: { name: 'other', rows: [['x', '1', '2']] } } }).markdown;
  assert.match(plain, /## other[^]*\| figure \| library \| C \| note \|/);
});

test('an in-place loop slower than the API\'s whole synchronous transaction is a violation (it measured an undo log per commit)', async () => {
  const [m] = await load();
  assert.equal(m.stagingResult(host, guest)['violations'], []);
  const broken = m.stagingResult({ ...host, fastPath: path(264, 1562, 223) }, guest);
  assert.is(broken['violations'].length, 1);
  assert.is(broken['violations'][0].invariant, 'staging');
  assert.match(broken['violations'][0].detail, /fastPath: the in-place commit loop took 1562 ns, more than .* \(223 ns\)/);
});

test.run();
