import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const main = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const nasa = new URL('../../fixtures/traces/nasa-http-1995-replicas.csv', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kube-latch-sim-'));

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function trace(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('simulate --json prints the result fields of DESIGN §6', async () => {
  const r = await cli(['simulate', '--trace', nasa, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out), ['rows', 'changes', 'commits', 'maxUnder', 'maxOver', 'underSeconds', 'overProvision', 'final', 'latches']);
  assert.equal(out.rows, 87015);
  assert.equal(out.commits, 11);
  assert.equal(out.latches.length, 11);
  assert.deepEqual(Object.keys(out.latches[0]).sort(), ['from', 't', 'to']);
});

test('simulate flags: --settle sets both, --initial, --ladder/--tolerance, --min/--max', async () => {
  const p = trace('up.csv', 't,replicas\n0,20\n10,45\n20,45\n');
  const a = JSON.parse((await cli(['simulate', '--trace', p, '--json', '--settle', '10'])).stdout);
  assert.deepEqual(a.latches, [{ t: 20, from: 20, to: 50 }]);
  const b = JSON.parse((await cli(['simulate', '--trace', p, '--json', '--settle-up', '0', '--initial', '30'])).stdout);
  assert.equal(b.commits, 0); // 45 ∈ band(30) = 15-60
  const p44 = trace('up44.csv', 't,replicas\n0,20\n10,44\n');
  const c = JSON.parse((await cli(['simulate', '--trace', p44, '--json', '--settle-up', '0', '--ladder', 'sig1', '--tolerance', '1.5'])).stdout);
  assert.deepEqual(c.latches, [{ t: 10, from: 20, to: 40 }]); // band(20) = 14-30 under 1.5; sig1(44) = 40, where 1-2-5 gives 50
  const d = JSON.parse((await cli(['simulate', '--trace', p, '--json', '--settle-up', '0', '--max', '40'])).stdout);
  assert.deepEqual(d.latches, [{ t: 10, from: 20, to: 40 }]);
  const e = JSON.parse((await cli(['simulate', '--trace', p, '--json', '--settle-up', '0', '--min', '30', '--initial', '5'])).stdout);
  assert.deepEqual(e.latches, [{ t: 0, from: 5, to: 30 }]);
});

test('every flag also reads KUBE_LATCH_* from the environment', async () => {
  const p = trace('env.csv', 't,replicas\n0,20\n10,45\n20,45\n');
  const r = await cli(['simulate', '--json'], { KUBE_LATCH_TRACE: p, KUBE_LATCH_SETTLE_UP: '0', KUBE_LATCH_TOLERANCE: '3' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).commits, 0); // 45 ∈ band(20) = 7-60 under 3
});

test('the human summary names commits, the time below the band and overProvision', async () => {
  const r = await cli(['simulate', '--trace', nasa]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /commits\s+11 \(0\.18 a day, 2072× fewer\)/);
  assert.match(r.stdout, /0\.008%/);
  assert.match(r.stdout, /^overProvision 1\.841 \(Σ git·time \/ Σ live·time/m);
});

const usage: Array<[string[], RegExp]> = [
  [['simulate'], /--trace is required/],
  [['simulate', '--trace'], /--trace/],
  [['simulate', '--trace', nasa, '--bogus'], /bogus/],
  [['simulate', '--trace', nasa, '--ladder', 'fib'], /unknown ladder/],
  [['simulate', '--trace', nasa, '--tolerance', '1.2'], /below 1\.582/],
  [['simulate', '--trace', nasa, '--min', '-1'], /--min/],
  [['simulate', '--trace', nasa, '--min', '9', '--max', '3'], /exceeds/],
  [['simulate', '--trace', nasa, '--settle', 'soon'], /--settle/],
  [['simulate', '--trace', '/nonexistent.csv'], /cannot read --trace/],
  [['simulate', 'extra-positional'], /positional|Unexpected argument/i],
  [['nope'], /unknown command "nope"/],
];
for (const [args, re] of usage) {
  test(`exit 2 with one line: kube-latch ${args.join(' ').replace(nasa, 'nasa.csv')}`, async () => {
    const r = await cli(args);
    assert.equal(r.code, 2);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}

test('a bad CSV row names its line and exits 2', async () => {
  const p = trace('bad.csv', 't,replicas\n0,20\n60,twenty\n');
  const r = await cli(['simulate', '--trace', p]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.csv: line 3: replicas "twenty"/);
});

test('--help exits 0 and lists the flags with their environment variables', async () => {
  const r = await cli(['simulate', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--settle-down SECONDS/);
  assert.match(r.stdout, /KUBE_LATCH_SETTLE_DOWN/);
});
