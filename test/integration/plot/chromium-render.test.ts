// Renders the SVGs of `kube-latch simulate --plot` with headless Chromium (Debian package `chromium`,
// installed by scripts/install-system-deps.sh) and checks the pictures: the browser parsed the file as
// SVG, and the screenshot shows the live line, the declared line, the band and the commit markers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { COLORS } from '../../../src/report/index.ts';
import { byClass, parseXml } from '../../unit/report/xml-check.ts';
import { countInk, countNear, decodePng, type Image } from './png.ts';

const run = promisify(execFile);
const CHROMIUM = process.env['CHROMIUM'] ?? 'chromium';
const main = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const nasa = new URL('../../fixtures/traces/nasa-http-1995-replicas.csv', import.meta.url).pathname;
const clarknet = new URL('../../fixtures/traces/clarknet-1995-replicas.csv', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kube-latch-chromium-'));
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  try {
    await run(CHROMIUM, ['--version'], { timeout: 30_000 });
  } catch (e) {
    throw new Error(`headless Chromium is needed (${CHROMIUM}: ${(e as Error).message.split('\n')[0]}); install the Debian package "chromium" (scripts/install-system-deps.sh)`);
  }
});

/** The flags that keep Chromium offline, quiet and free of leftovers. */
function chromiumArgs(profile: string): string[] {
  return ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`];
}

async function chromium(args: string[]): Promise<string> {
  const profile = mkdtempSync(join(dir, 'profile-'));
  try {
    const { stdout } = await run(CHROMIUM, [...chromiumArgs(profile), ...args], { timeout: 120_000, maxBuffer: 64 << 20 });
    return stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

async function screenshot(svgPath: string, width: number, height: number): Promise<Image> {
  const png = `${svgPath}.png`;
  await chromium([`--screenshot=${png}`, `--window-size=${width},${height}`, svgPath]);
  return decodePng(readFileSync(png));
}

/** What the browser parsed: an <svg> document, or its XML error page. */
async function dumpDom(svgPath: string): Promise<string> {
  return chromium(['--dump-dom', svgPath]);
}

async function plot(trace: string, extra: string[], name: string): Promise<string> {
  const svgPath = join(dir, name);
  await run(process.execPath, [main, 'simulate', '--trace', trace, '--plot', svgPath, ...extra], { timeout: 60_000 });
  return svgPath;
}

function size(svgPath: string): { width: number; height: number } {
  const root = parseXml(readFileSync(svgPath, 'utf8'));
  return { width: Number(root.attrs['width']), height: Number(root.attrs['height']) };
}

// Controls: the checks below can tell a blank page and a broken file from a plot.
test('control: a blank SVG renders with no ink, and a malformed one shows Chromium\'s XML error', async () => {
  const blank = join(dir, 'blank.svg');
  writeFileSync(blank, '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><rect width="400" height="300" fill="#fff"/></svg>');
  assert.equal(countInk(await screenshot(blank, 400, 300)), 0);
  const broken = join(dir, 'broken.svg');
  writeFileSync(broken, '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><path d="M0 0H10"></svg>');
  assert.match(await dumpDom(broken), /<parsererror/);
});

test('NASA-HTTP, default policy: Chromium parses the SVG and draws live, declared, band and markers', async () => {
  // settle-down of an hour: enough latches each way for every marker colour to show (the default, a day, gives 11)
  const svgPath = await plot(nasa, ['--settle-down', '3600'], 'nasa.svg');
  const dom = await dumpDom(svgPath);
  assert.doesNotMatch(dom, /parsererror/);
  assert.match(dom.trimStart(), /^<svg/);
  const { width, height } = size(svgPath);
  const img = await screenshot(svgPath, width, height);
  assert.equal(img.width, width);
  const total = img.width * img.height;
  const ink = countInk(img);
  assert.ok(ink > total * 0.05, `ink on ${ink} of ${total} pixels`);
  assert.ok(countNear(img, COLORS.live) > 5000, 'the live line');
  assert.ok(countNear(img, COLORS.declared, 30) > 500, 'the declared step line');
  assert.ok(countNear(img, '#fae3e3', 6) > 5000, 'the shaded band (13 % of #d62728 on white)');
  assert.ok(countNear(img, COLORS.up, 30) > 100, 'rise markers');
  assert.ok(countNear(img, COLORS.down, 30) > 100, 'fall markers');
});

test('ClarkNet small multiples: every panel has its live line and declared line on screen', async () => {
  const svgPath = await plot(clarknet, ['--compare', '1-2-5:2,sig1:1.5,decade:3.2', '--settle-down', '3600'], 'clarknet-compare.svg');
  assert.doesNotMatch(await dumpDom(svgPath), /parsererror/);
  const { width, height } = size(svgPath);
  const img = await screenshot(svgPath, width, height);
  const frames = byClass(parseXml(readFileSync(svgPath, 'utf8')), 'frame');
  assert.equal(frames.length, 3);
  for (const f of frames) {
    const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((k) => Number(f.attrs[k]));
    const crop = cropImage(img, x!, y!, w!, h!);
    assert.ok(countNear(crop, COLORS.live) > 1000, `live line in the panel at y=${y}`);
    assert.ok(countNear(crop, COLORS.declared, 30) > 200, `declared line in the panel at y=${y}`);
  }
});

function cropImage(img: Image, x: number, y: number, w: number, h: number): Image {
  const rgba = new Uint8Array(w * h * 4);
  for (let row = 0; row < h; row++) {
    const from = ((y + row) * img.width + x) * 4;
    rgba.set(img.rgba.subarray(from, from + w * 4), row * w * 4);
  }
  return { width: w, height: h, rgba };
}
