// docs/choosing-a-policy.md must say what the code does: every number in its two tables is recomputed
// here, and every figure it shows is what the CLI draws today (regenerate them with the commands in the
// guide when the drawing changes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DEFAULT_SETTLE_DOWN, DEFAULT_SETTLE_UP, describePolicy, parseTrace, policyFromFlags, simulate, type SimulateResult, type TraceRow } from '../../../src/latch/index.ts';
import { parsePolicyList } from '../../../src/cli/simulate.ts';
import { renderPlot, summarize } from '../../../src/report/index.ts';

const root = new URL('../../../', import.meta.url);
const guide = readFileSync(new URL('docs/choosing-a-policy.md', root), 'utf8');
const traces: Record<string, string> = { 'NASA-HTTP': 'nasa-http-1995-replicas.csv', ClarkNet: 'clarknet-1995-replicas.csv' };
const rowsOf = new Map<string, TraceRow[]>();
function rows(file: string): TraceRow[] {
  if (!rowsOf.has(file)) rowsOf.set(file, parseTrace(readFileSync(new URL(`test/fixtures/traces/${file}`, root), 'utf8')));
  return rowsOf.get(file)!;
}
const spanOf = (r: TraceRow[]) => r[r.length - 1]!.t - r[0]!.t;

/** The markdown table rows that follow an HTML comment marker. */
function tableAfter(marker: string): string[][] {
  const at = guide.indexOf(`<!-- ${marker}`);
  assert.ok(at >= 0, `marker ${marker}`);
  const after = guide.slice(at).split('\n').slice(1);
  const lines = after.slice(after.findIndex((l) => l.startsWith('|')));
  const body = lines.slice(2, lines.findIndex((l) => !l.startsWith('|')));
  return body.map((l) => l.split('|').slice(1, -1).map((c) => c.replace(/[*`]/g, '').trim()));
}

function run(file: string, spec: string, up: number, down: number): SimulateResult {
  const at = spec.lastIndexOf(':');
  return simulate(rows(file), { policy: policyFromFlags({ ladder: spec.slice(0, at), tolerance: spec.slice(at + 1) }), settleUp: up, settleDown: down });
}

test('the policy table matches simulate() on the public traces', () => {
  const table = tableAfter('policy-table');
  assert.equal(table.length, 10);
  for (const [trace, policy, settle, commits, perDay, fewer, below, maxUnder, maxOver, overProvision] of table) {
    const file = traces[trace!]!;
    const [up, down] = settle!.match(/\d+/g)!.map(Number);
    const spec = policy!.split(' ')[0]!;
    const r = run(file, spec, up!, down!);
    const s = summarize(r, spanOf(rows(file)));
    const where = `${trace} ${policy} ${settle}`;
    assert.deepEqual(
      [commits, perDay, fewer, below, maxUnder, maxOver, overProvision],
      [String(r.commits), s.perDay, s.fewer, `${s.underPct} %`, String(r.maxUnder), String(r.maxOver), s.overProvision],
      where,
    );
  }
});

test('the settle sweep table matches simulate() for 1-2-5:2, and its bold row is the default', () => {
  const table = tableAfter('settle-table');
  assert.ok(table.length >= 5);
  for (const [up, down, nasaCommits, nasaBelow, nasaOver, clarkCommits, clarkBelow, clarkOver] of table) {
    const u = parseInt(up!, 10);
    const d = parseInt(down!, 10);
    const cells = [[traces['NASA-HTTP']!, nasaCommits, nasaBelow, nasaOver], [traces['ClarkNet']!, clarkCommits, clarkBelow, clarkOver]] as const;
    for (const [file, commits, below, over] of cells) {
      const r = run(file, '1-2-5:2', u, d);
      const s = summarize(r, spanOf(rows(file)));
      assert.deepEqual([commits, below, over], [String(r.commits), `${s.underPct} %`, s.overProvision], `${file} settle ${u}/${d}`);
    }
  }
  assert.ok(guide.includes(`| **${DEFAULT_SETTLE_UP} s** | **${DEFAULT_SETTLE_DOWN} s** |`), 'the default row is bold');
});

// The figures, rebuilt exactly as the guide's command lines build them.
const week1 = () => rows(traces['NASA-HTTP']!).filter((r) => r.t < 7 * 86400);
const figures: Array<[string, () => TraceRow[], string, string | undefined]> = [
  ['nasa-http-1-2-5.svg', () => rows(traces['NASA-HTTP']!), 'nasa-http-1995-replicas.csv', undefined],
  ['nasa-http-compare.svg', () => rows(traces['NASA-HTTP']!), 'nasa-http-1995-replicas.csv', '1-2-5:2,sig1:1.5,decade:3.2'],
  ['nasa-http-week1-compare.svg', week1, 'nasa-http-1995-week1.csv', '1-2-5:2,sig1:1.5,decade:3.2'],
  ['clarknet-1-2-5.svg', () => rows(traces['ClarkNet']!), 'clarknet-1995-replicas.csv', undefined],
  ['clarknet-compare.svg', () => rows(traces['ClarkNet']!), 'clarknet-1995-replicas.csv', '1-2-5:2,sig1:1.5,decade:3.2,exact:1'],
];
for (const [img, load, name, compare] of figures) {
  test(`docs/img/${img} is what the CLI draws today, and the guide shows it`, () => {
    assert.ok(guide.includes(`(img/${img})`), `the guide links img/${img}`);
    const policies = compare ? parsePolicyList(compare, {}) : [{ label: describePolicy(policyFromFlags({})), policy: policyFromFlags({}) }];
    const r = load();
    const settle = { settleUp: DEFAULT_SETTLE_UP, settleDown: DEFAULT_SETTLE_DOWN };
    const panels = policies.map((p) => ({ label: p.label, tolerance: p.policy.tolerance, result: simulate(r, { policy: p.policy, ...settle }) }));
    const svg = renderPlot({ name: basename(name), rows: r, panels, ...settle });
    assert.ok(svg === readFileSync(new URL(`docs/img/${img}`, root), 'utf8'), `docs/img/${img} is stale: regenerate it with the command in docs/choosing-a-policy.md`);
  });
}

test('the guide shows one PNG rendered by Chromium, and every image it links exists', () => {
  assert.ok(guide.includes('](img/nasa-http-1-2-5.png)'));
  const png = readFileSync(new URL('docs/img/nasa-http-1-2-5.png', root));
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  for (const m of guide.matchAll(/\]\((img\/[^)]+)\)/g)) assert.ok(existsSync(new URL(`docs/${m[1]}`, root)), m[1]);
});
