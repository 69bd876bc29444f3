// `kube-latch simulate --plot`: one self-contained SVG of a replay, or small multiples of several
// policies over the same trace. Pure: data in, SVG text out. No fonts, scripts, links or stylesheets
// are referenced; every style is a presentation attribute, so any browser or image viewer shows it.
import { band, type Ratio, type SimulateResult, type TraceRow } from '../latch/index.ts';
import { chooseYScale, LOG_RATIO, timeAxis, type YScale } from './scale.ts';
import { bandPath, declaredSeries, liveSeries, stepPath, xOf, type Frame, type StepSeries } from './steps.ts';
import { summarize } from './summary.ts';
import { attrs, esc, px } from './xml.ts';

export interface PlotPanel {
  /** how the policy is named in the title, e.g. `1-2-5:2` */
  label: string;
  tolerance: Ratio;
  result: SimulateResult;
}

export interface PlotInput {
  /** what the trace is called in the title, e.g. its file name */
  name: string;
  rows: readonly TraceRow[];
  /** one panel is a plain plot; several are small multiples sharing the time and replica axes */
  panels: readonly PlotPanel[];
  settleUp: number;
  settleDown: number;
}

export const COLORS = {
  live: '#1f77b4',
  declared: '#d62728',
  band: '#d62728',
  up: '#e66101',
  down: '#5e3c99',
  grid: '#e3e3e3',
  axis: '#444444',
  text: '#222222',
} as const;

const WIDTH = 1200;
const LEFT = 72;
const RIGHT = 24;
const HEADER = 60;
const FOOTER = 72;
/** commits with more markers than this in one panel get no per-marker tooltip, to bound the size */
const TOOLTIP_LIMIT = 2000;
/** share of a panel's height left free above and below the data */
const INSET = 0.025;

export function renderPlot(input: PlotInput): string {
  const { rows, panels } = input;
  if (rows.length === 0) throw new Error('renderPlot: the trace has no rows');
  if (panels.length === 0) throw new Error('renderPlot: no policy to plot');
  const t0 = rows[0]!.t;
  const t1 = rows[rows.length - 1]!.t;
  const span = t1 - t0;
  const multiple = panels.length > 1;
  const panelHeight = multiple ? 200 : 360;
  const panelTitle = multiple ? 22 : 0;
  const gap = multiple ? 14 : 0;
  const height = HEADER + panels.length * (panelTitle + panelHeight) + (panels.length - 1) * gap + FOOTER;
  const width = WIDTH - LEFT - RIGHT;

  const live = liveSeries(rows);
  const declared = panels.map((p) => declaredSeries(rows, p.result));
  // One y scale for every panel, so that the panels compare by eye.
  const y = chooseYScale(concatValues(live, declared));
  const time = timeAxis(span);
  const first = panels[0]!;
  const sum = summarize(first.result, span);

  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg${attrs({ xmlns: 'http://www.w3.org/2000/svg', width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`, 'font-family': 'sans-serif', 'font-size': 12, fill: COLORS.text })}>`,
  );
  const titleText = multiple
    ? `${input.name}: ${panels.length} policies compared (${panels.map((p) => p.label).join(', ')})`
    : `${input.name}, ${first.label}: ${numbers(first.result, sum)}`;
  out.push(`<title>${esc(titleText)}</title>`);
  out.push(`<desc>${esc(`kube-latch simulate replay: live replicas, the declared (git) value, its band and each commit. y scale: ${y.kind}.`)}</desc>`);
  out.push(`<rect${attrs({ width: WIDTH, height, fill: '#ffffff' })}/>`);

  const scaleNote = y.kind === 'log' ? `log y scale (max/min > ${LOG_RATIO})` : 'linear y scale';
  const about = `${rows.length} rows over ${fmtSpan(span)}, ${first.result.changes} replica changes; settle-up ${input.settleUp}s, settle-down ${input.settleDown}s; ${scaleNote}`;
  out.push(text(LEFT, 24, titleText, { 'font-size': 15, 'font-weight': 'bold', class: 'title' }));
  out.push(text(LEFT, 44, multiple ? about : `${about}; ${sum.fewer} fewer commits than one per change, maxOver ${first.result.maxOver}, overProvision ${sum.overProvision}`, { class: 'subtitle' }));

  let top = HEADER;
  panels.forEach((p, i) => {
    if (multiple) {
      const s = summarize(p.result, span);
      out.push(text(LEFT, top + 15, `${p.label}: ${numbers(p.result, s)}, ${s.fewer} fewer, maxOver ${p.result.maxOver}, overProvision ${s.overProvision}`, { 'font-weight': 'bold', class: 'panel-title' }));
      top += panelTitle;
    }
    // A small inset keeps values at the ends of the domain (1 on a log scale, say) off the frame line.
    const f: Frame = { t0, t1, left: LEFT, width, y: (v) => top + panelHeight - (INSET + (1 - 2 * INSET) * y.frac(v)) * panelHeight };
    out.push(panel(p, declared[i]!, live, f, y, time, top, panelHeight, i === panels.length - 1));
    top += panelHeight + gap;
  });
  top -= gap;
  out.push(text(LEFT + width / 2, top + 36, `time since the first row (${time.unit})`, { 'text-anchor': 'middle', class: 'axis-label x' }));
  out.push(legend(LEFT, top + 60));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function panel(p: PlotPanel, declared: StepSeries, live: StepSeries, f: Frame, y: YScale, time: ReturnType<typeof timeAxis>, top: number, h: number, last: boolean): string {
  const out: string[] = [`<g${attrs({ class: 'panel', 'data-policy': p.label })}>`];
  const bottom = top + h;
  const right = f.left + f.width;
  // grid and tick labels
  const grid: string[] = [];
  for (const v of y.ticks) grid.push(`M${px(f.left)} ${px(f.y(v))}H${px(right)}`);
  for (const t of time.ticks) grid.push(`M${px(xOf(f, f.t0 + t))} ${px(top)}V${px(bottom)}`);
  out.push(`<path${attrs({ class: 'grid', d: grid.join(''), stroke: COLORS.grid, 'stroke-width': 1, fill: 'none' })}/>`);
  for (const v of y.ticks) out.push(text(f.left - 6, f.y(v) + 4, String(v), { 'text-anchor': 'end', class: 'tick y' }));
  if (last) {
    for (const t of time.ticks) out.push(text(xOf(f, f.t0 + t), bottom + 16, String(Math.round(t / time.seconds)), { 'text-anchor': 'middle', class: 'tick x' }));
  }
  const cy = top + h / 2;
  out.push(text(18, cy, y.kind === 'log' ? 'replicas (log scale)' : 'replicas', { 'text-anchor': 'middle', transform: `rotate(-90 18 ${px(cy)})`, class: 'axis-label y' }));

  // data: band under the lines, live, declared on top of live, markers on top of everything
  out.push(`<path${attrs({ class: 'band', d: bandPath(declared, (d) => band(d, p.tolerance), f), fill: COLORS.band, 'fill-opacity': 0.13, stroke: 'none' })}/>`);
  out.push(`<path${attrs({ class: 'live', d: stepPath(live, f), fill: 'none', stroke: COLORS.live, 'stroke-width': 1, 'stroke-linejoin': 'round' })}/>`);
  out.push(`<path${attrs({ class: 'declared', d: stepPath(declared, f), fill: 'none', stroke: COLORS.declared, 'stroke-width': 1.6 })}/>`);
  out.push(markers(p.result, f));
  out.push(`<rect${attrs({ class: 'frame', x: f.left, y: top, width: f.width, height: h, fill: 'none', stroke: COLORS.axis, 'stroke-width': 1 })}/>`);
  out.push('</g>');
  return out.join('\n');
}

/** One small triangle per commit at (latch time, new value): pointing up for a rise, down for a fall. */
function markers(r: SimulateResult, f: Frame): string {
  const tips = r.latches.length <= TOOLTIP_LIMIT;
  const out: string[] = [`<g${attrs({ class: 'commits', stroke: '#ffffff', 'stroke-width': 0.6 })}>`];
  for (const l of r.latches) {
    const x = xOf(f, l.t);
    const y = f.y(l.to);
    const up = l.to > l.from;
    const d = up ? `M${px(x)} ${px(y - 4)}l4.5 7.5h-9z` : `M${px(x)} ${px(y + 4)}l4.5 -7.5h-9z`;
    const a = attrs({ class: up ? 'commit up' : 'commit down', d, fill: up ? COLORS.up : COLORS.down });
    out.push(tips ? `<path${a}><title>t=${l.t}s: ${l.from} → ${l.to}</title></path>` : `<path${a}/>`);
  }
  out.push('</g>');
  return out.join('\n');
}

function legend(x: number, y: number): string {
  const out: string[] = [`<g${attrs({ class: 'legend' })}>`];
  const item = (dx: number, swatch: string, label: string) => {
    out.push(swatch);
    out.push(text(x + dx + 26, y + 4, label));
  };
  item(0, `<path${attrs({ d: `M${x} ${y}h20`, stroke: COLORS.live, 'stroke-width': 1.5 })}/>`, 'live replicas');
  item(130, `<path${attrs({ d: `M${x + 130} ${y}h20`, stroke: COLORS.declared, 'stroke-width': 1.6 })}/>`, 'declared in git');
  item(270, `<rect${attrs({ x: x + 270, y: y - 6, width: 20, height: 12, fill: COLORS.band, 'fill-opacity': 0.13 })}/>`, 'band of the declared value');
  item(470, `<path${attrs({ d: `M${x + 480} ${y - 4}l4.5 7.5h-9z`, fill: COLORS.up })}/>`, 'commit (rise)');
  item(590, `<path${attrs({ d: `M${x + 600} ${y + 4}l4.5 -7.5h-9z`, fill: COLORS.down })}/>`, 'commit (fall)');
  out.push('</g>');
  return out.join('\n');
}

function text(x: number, y: number, content: string, a: Record<string, string | number> = {}): string {
  return `<text${attrs({ x: px(x), y: px(y), ...a })}>${esc(content)}</text>`;
}

/** The title numbers: commits, commits per day, time below the band as a share of the span, maxUnder. */
function numbers(r: SimulateResult, s: ReturnType<typeof summarize>): string {
  return `${r.commits} commits (${s.perDay} a day), below band ${s.underPct}% of the time, maxUnder ${r.maxUnder}`;
}

function fmtSpan(span: number): string {
  if (span >= 86400) return `${(span / 86400).toFixed(2)} days`;
  if (span >= 3600) return `${(span / 3600).toFixed(2)} hours`;
  return `${span} s`;
}

function* concatValues(live: StepSeries, declared: readonly StepSeries[]): Generator<number> {
  yield* live.y;
  for (const d of declared) yield* d.y;
}
