// Structural checks of the SVG: well-formed, self-contained, titled with the numbers, one marker per
// commit, labelled axes, and a size bounded by the pixel width rather than the trace length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTrace, policyFromFlags, simulate, type TraceRow } from '../../../src/latch/index.ts';
import { renderPlot, type PlotPanel } from '../../../src/report/index.ts';
import { allText, byClass, parseXml, walk, type XmlElement } from './xml-check.ts';

const fixture = (name: string) => parseTrace(readFileSync(new URL(`../../fixtures/traces/${name}`, import.meta.url), 'utf8'));
const nasa = fixture('nasa-http-1995-replicas.csv');
const clarknet = fixture('clarknet-1995-replicas.csv');

function panel(rows: readonly TraceRow[], spec: string, settleUp = 60, settleDown = 3600): PlotPanel {
  const at = spec.lastIndexOf(':');
  const policy = policyFromFlags({ ladder: spec.slice(0, at), tolerance: spec.slice(at + 1) });
  return { label: spec, tolerance: policy.tolerance, result: simulate(rows, { policy, settleUp, settleDown }) };
}

function plot(rows: readonly TraceRow[], specs: string[], name = 'trace.csv'): { svg: string; root: XmlElement; panels: PlotPanel[] } {
  const panels = specs.map((s) => panel(rows, s));
  const svg = renderPlot({ name, rows, panels, settleUp: 60, settleDown: 3600 });
  return { svg, root: parseXml(svg), panels };
}

/** No fetch of anything: no href/src attributes, no url(), no scripts, styles, images or foreign HTML. */
function assertSelfContained(svg: string, root: XmlElement): void {
  for (const el of walk(root)) {
    assert.ok(!['script', 'style', 'image', 'foreignObject', 'a', 'use', 'iframe', 'link'].includes(el.name), `<${el.name}>`);
    for (const [k, v] of Object.entries(el.attrs)) {
      assert.ok(!/(^|:)href$|^src$|^on/i.test(k), `attribute ${k}`);
      assert.ok(!/url\(|@import|javascript:/i.test(v), `${k}="${v}"`);
      if (k !== 'xmlns') assert.ok(!/https?:/i.test(v), `${k}="${v}"`);
    }
  }
  assert.equal(svg.match(/https?:/g)?.length, 1, 'the only URL is the SVG namespace');
}

test('NASA-HTTP, default policy: a well-formed, self-contained SVG with a viewBox', () => {
  const { svg, root } = plot(nasa, ['1-2-5:2']);
  assert.equal(root.name, 'svg');
  assert.equal(root.attrs['xmlns'], 'http://www.w3.org/2000/svg');
  assert.match(root.attrs['viewBox'] ?? '', /^0 0 \d+ \d+$/);
  const [, , w, h] = root.attrs['viewBox']!.split(' ').map(Number);
  assert.equal(root.attrs['width'], String(w));
  assert.equal(root.attrs['height'], String(h));
  assertSelfContained(svg, root);
});

test('the title carries commits, commits per day, time below band as a percentage, and maxUnder', () => {
  const { root, panels } = plot(nasa, ['1-2-5:2']);
  const r = panels[0]!.result;
  assert.equal(r.commits, 114);
  const title = root.children.find((c) => c.name === 'title');
  assert.ok(title, 'a <title> child of <svg>');
  const visible = allText(byClass(root, 'title')[0]!);
  for (const t of [title.text, visible]) {
    assert.match(t, /\b114 commits\b/);
    assert.match(t, /\b1\.84 a day\b/);
    assert.match(t, /\b0\.065% of the time\b/);
    assert.match(t, /maxUnder 26\b/);
  }
});

test('one marker per commit, at its latch, pointing the way git moved', () => {
  const { root, panels } = plot(nasa, ['1-2-5:2']);
  const r = panels[0]!.result;
  const marks = byClass(root, 'commit');
  assert.equal(marks.length, r.commits);
  assert.equal(byClass(root, 'up').length, r.latches.filter((l) => l.to > l.from).length);
  assert.equal(byClass(root, 'down').length, r.latches.filter((l) => l.to < l.from).length);
  assert.equal(marks[0]!.children[0]?.text, `t=${r.latches[0]!.t}s: ${r.latches[0]!.from} → ${r.latches[0]!.to}`);
});

test('axes are labelled: time in days for a long trace, replicas on a log scale for a wide range', () => {
  const { root } = plot(nasa, ['1-2-5:2']);
  const labels = byClass(root, 'axis-label').map(allText);
  assert.ok(labels.includes('time since the first row (days)'), labels.join(' | '));
  assert.ok(labels.includes('replicas (log scale)'), labels.join(' | '));
  const yTicks = byClass(root, 'tick').filter((e) => e.attrs['class']!.includes('y')).map(allText);
  assert.deepEqual(yTicks, ['1', '2', '5', '10', '20', '50', '100', '200']);
  const xTicks = byClass(root, 'tick').filter((e) => e.attrs['class']!.includes('x')).map(allText);
  assert.deepEqual(xTicks, ['0', '7', '14', '21', '28', '35', '42', '49', '56']);
  assert.match(allText(byClass(root, 'subtitle')[0]!), /log y scale \(max\/min > 20\)/);
});

test('a narrow range gets a linear y scale and hours on the x axis', () => {
  const rows = parseTrace('t,replicas\n0,4\n3600,9\n7200,6\n36000,5\n');
  const { root } = plot(rows, ['1-2-5:2']);
  const labels = byClass(root, 'axis-label').map(allText);
  assert.ok(labels.includes('replicas'));
  assert.ok(labels.includes('time since the first row (hours)'));
});

test('live, declared and band are each one path, and peaks survive the downsampling', () => {
  const { root } = plot(nasa, ['1-2-5:2']);
  for (const cls of ['live', 'declared', 'band']) assert.equal(byClass(root, cls).length, 1, cls);
  const live = byClass(root, 'live')[0]!.attrs['d']!;
  // The y pixels the path visits include those of the trace's max (200) and min (1).
  const ys = [...live.matchAll(/V(-?[\d.]+)/g)].map((m) => Number(m[1]));
  const grid = byClass(root, 'tick').filter((e) => e.attrs['class']!.includes('y'));
  const yOf = (label: string) => Number(grid.find((e) => allText(e) === label)!.attrs['y']) - 4;
  assert.ok(ys.some((y) => Math.abs(y - yOf('200')) < 0.2), 'the 200-replica peak is drawn');
  assert.ok(ys.some((y) => Math.abs(y - yOf('1')) < 0.2), 'the dip to 1 replica is drawn');
});

test('87,015 rows make a small SVG: size is bounded by pixel columns', () => {
  const one = plot(nasa, ['1-2-5:2']).svg;
  assert.ok(Buffer.byteLength(one) < 150 * 1024, `${Buffer.byteLength(one)} bytes`);
  const four = plot(nasa, ['1-2-5:2', 'sig1:1.5', 'decade:3.2', 'exact:1']).svg;
  assert.ok(Buffer.byteLength(four) < 1024 * 1024, `${Buffer.byteLength(four)} bytes`);
});

test('small multiples: one panel per policy, each titled with its own numbers and its own markers', () => {
  const specs = ['1-2-5:2', 'sig1:1.5', 'decade:3.2'];
  const { svg, root, panels } = plot(clarknet, specs, 'clarknet.csv');
  assertSelfContained(svg, root);
  const groups = byClass(root, 'panel');
  assert.deepEqual(groups.map((g) => g.attrs['data-policy']), specs);
  const titles = byClass(root, 'panel-title').map(allText);
  panels.forEach((p, i) => {
    assert.equal(byClass(groups[i]!, 'commit').length, p.result.commits, p.label);
    assert.match(titles[i]!, new RegExp(`^${p.label.replace(/[.]/g, '\\.')}: ${p.result.commits} commits \\(`));
    assert.match(titles[i]!, new RegExp(`maxUnder ${p.result.maxUnder}\\b`));
  });
  // shared x axis: time tick labels only under the last panel
  assert.equal(byClass(groups[0]!, 'x').length, 0);
  assert.ok(byClass(groups[2]!, 'x').length > 0);
  assert.match(root.children.find((c) => c.name === 'title')!.text, /3 policies compared/);
});

test('more commits than the tooltip limit: still one marker each, and the declared line is downsampled', () => {
  // exact:1 with settle 0 commits every change: 5000 alternations.
  const rows: TraceRow[] = Array.from({ length: 5001 }, (_, i) => ({ t: i * 60, v: i % 2 === 0 ? 10 : 90 }));
  const policy = policyFromFlags({ ladder: 'exact', tolerance: '1' });
  const result = simulate(rows, { policy, settleUp: 0, settleDown: 0 });
  assert.equal(result.commits, 5000);
  const svg = renderPlot({ name: 'flap', rows, panels: [{ label: 'exact:1', tolerance: policy.tolerance, result }], settleUp: 0, settleDown: 0 });
  const root = parseXml(svg);
  assert.equal(byClass(root, 'commit').length, 5000);
  assert.ok(byClass(root, 'declared')[0]!.attrs['d']!.length < 40_000);
});

test('names are escaped: a trace called <a&b>"x" still gives well-formed XML that shows the name', () => {
  const rows = parseTrace('t,replicas\n0,3\n60,4\n');
  const { root } = plot(rows, ['1-2-5:2'], '<a&b>"x\'.csv');
  assert.match(root.children.find((c) => c.name === 'title')!.text, /^<a&b>"x'\.csv, 1-2-5:2: 0 commits/);
});

test('a single-row trace and an all-zero trace still render', () => {
  for (const text of ['t,replicas\n5,7\n', 't,replicas\n0,0\n60,0\n']) {
    const { root } = plot(parseTrace(text), ['1-2-5:2']);
    assert.equal(root.name, 'svg');
    assert.ok(!/NaN|Infinity/.test(JSON.stringify(root)), 'no NaN or Infinity coordinates');
  }
});

test('renderPlot refuses empty input rather than drawing nothing', () => {
  assert.throws(() => renderPlot({ name: 'x', rows: [], panels: [], settleUp: 60, settleDown: 3600 }), /no rows/);
  assert.throws(() => renderPlot({ name: 'x', rows: nasa.slice(0, 2), panels: [], settleUp: 60, settleDown: 3600 }), /no policy/);
});
