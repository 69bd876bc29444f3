// `kube-latch simulate --plot` and `--compare` through the real CLI, as an operator runs them.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allText, byClass, parseXml } from '../../unit/report/xml-check.ts';

const main = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const nasa = new URL('../../fixtures/traces/nasa-http-1995-replicas.csv', import.meta.url).pathname;
const clarknet = new URL('../../fixtures/traces/clarknet-1995-replicas.csv', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kube-latch-plot-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const RESULT_KEYS = ['changes', 'commits', 'final', 'latches', 'maxOver', 'maxUnder', 'overProvision', 'rows', 'underSeconds'];

test('--plot writes the SVG and leaves the --json output exactly as it was', async () => {
  const svgPath = join(dir, 'nasa.svg');
  const [plain, plotted] = await Promise.all([cli(['simulate', '--trace', nasa, '--json']), cli(['simulate', '--trace', nasa, '--json', '--plot', svgPath])]);
  assert.equal(plotted.code, 0, plotted.stderr);
  assert.equal(plotted.stdout, plain.stdout);
  assert.deepEqual(Object.keys(JSON.parse(plotted.stdout)).sort(), RESULT_KEYS);
  const root = parseXml(readFileSync(svgPath, 'utf8'));
  assert.equal(byClass(root, 'commit').length, 11);
  assert.match(allText(byClass(root, 'title')[0]!), /^nasa-http-1995-replicas\.csv, ladder 1-2-5 tolerance 2: 11 commits \(0\.18 a day\), below band 0\.008% of the time, maxUnder 26$/);
  assert.match(allText(byClass(root, 'subtitle')[0]!), /settle-down 86400s; .*, maxOver 100, overProvision 1\.841$/);
});

test('--plot in text mode adds one line naming the file and its size; KUBE_LATCH_PLOT works too', async () => {
  const svgPath = join(dir, 'env.svg');
  const r = await cli(['simulate', '--trace', clarknet], { KUBE_LATCH_PLOT: svgPath });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /commits\s+1 \(0\.07 a day, 5914× fewer\)/);
  assert.match(r.stdout, new RegExp(`^plot\\s+${svgPath.replace(/[.]/g, '\\.')} \\(\\d+\\.\\d KiB\\)$`, 'm'));
  assert.ok(existsSync(svgPath));
});

test('--compare prints one table row per policy, in order, with the same numbers as separate runs', async () => {
  const specs = ['1-2-5:2', 'sig1:1.5', 'decade:3.2', 'step:10:1.4'];
  const r = await cli(['simulate', '--trace', clarknet, '--compare', specs.join(','), '--settle-down', '1800']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^trace\s+clarknet-1995-replicas\.csv: 20160 rows over 14\.00 days, 5914 changes/);
  assert.match(lines[1]!, /^settle\s+up 60s, down 1800s$/);
  const header = lines.findIndex((l) => l.startsWith('policy '));
  assert.match(lines[header]!, /^policy\s+commits\s+commits\/day\s+fewer\s+under band\s+maxUnder\s+maxOver\s+overProvision\s+final$/);
  const table = lines.slice(header + 1);
  assert.deepEqual(table.map((l) => l.split(/\s+/)[0]), specs);
  for (const [i, spec] of specs.entries()) {
    const at = spec.lastIndexOf(':');
    const one = JSON.parse((await cli(['simulate', '--trace', clarknet, '--json', '--settle-down', '1800', '--ladder', spec.slice(0, at), '--tolerance', spec.slice(at + 1)])).stdout);
    const cells = table[i]!.split(/\s+/);
    assert.equal(Number(cells[1]), one.commits, spec);
    assert.equal(cells[4], `${((100 * one.underSeconds) / (14 * 86400 - 60)).toFixed(3)}%`, spec);
    assert.deepEqual(cells.slice(5).map(Number), [one.maxUnder, one.maxOver, one.overProvision, one.final], spec);
  }
});

test('--compare --json is an array of results, each tagged with its policy, equal to the single runs', async () => {
  const r = await cli(['simulate', '--trace', clarknet, '--json', '--compare', '1-2-5:2,exact:1', '--settle', '120']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(Array.isArray(out));
  assert.deepEqual(out.map((x: { policy: string }) => x.policy), ['1-2-5:2', 'exact:1']);
  for (const x of out) assert.deepEqual(Object.keys(x).sort(), ['policy', ...RESULT_KEYS].sort());
  const exact = JSON.parse((await cli(['simulate', '--trace', clarknet, '--json', '--settle', '120', '--ladder', 'exact', '--tolerance', '1'])).stdout);
  const { policy, ...rest } = out[1];
  assert.equal(policy, 'exact:1');
  assert.deepEqual(rest, exact);
});

test('--compare --plot draws small multiples, one panel per policy', async () => {
  const svgPath = join(dir, 'compare.svg');
  const r = await cli(['simulate', '--trace', nasa, '--compare', '1-2-5:2,sig1:1.5,decade:3.2', '--plot', svgPath, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const results = JSON.parse(r.stdout);
  const root = parseXml(readFileSync(svgPath, 'utf8'));
  const panels = byClass(root, 'panel');
  assert.deepEqual(panels.map((p) => p.attrs['data-policy']), ['1-2-5:2', 'sig1:1.5', 'decade:3.2']);
  panels.forEach((p, i) => assert.equal(byClass(p, 'commit').length, results[i].commits));
});

const usage: Array<[string[], RegExp]> = [
  [['--compare', '1-2-5:2,sig1:1.2'], /^kube-latch simulate: --compare: policy "sig1:1\.2": tolerance 1\.2 is below 1\.415/],
  [['--compare', 'fib:2'], /policy "fib:2"/],
  [['--compare', '1-2-5'], /policy "1-2-5" is not LADDER:TOLERANCE/],
  [['--compare', ''], /--compare/],
  [['--plot', '/nonexistent-dir/x.svg'], /cannot write --plot \/nonexistent-dir\/x\.svg: ENOENT/],
  [['--plot', ''], /--plot/],
];
for (const [args, re] of usage) {
  test(`exit 2 with one line: simulate ${args.join(' ')}`, async () => {
    const svgPath = join(dir, 'never.svg');
    const r = await cli(['simulate', '--trace', clarknet, ...args, ...(args.includes('--plot') ? [] : ['--plot', svgPath])]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(!existsSync(svgPath), 'nothing is written on a usage error');
  });
}
