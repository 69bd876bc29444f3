// Where the webhook's cost per answer goes: the bare floor and the webhook in variants that each remove
// one cost, all loaded in turn (A B C … A B C …, autocannon, 8 connections, 3 s a round), reporting the
// median server CPU time per answer, split by thread (/proc/PID/task), and the median throughput.
//
//   node bench/variants.ts [--rounds 8]
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchPki } from './lib/pki.ts';
import { maxLoad } from './lib/load.ts';
import { CLI, describeMachine, freePort, spawnNode, waitHealthy, type Child } from './lib/proc.ts';
import { fmt, int, median } from './lib/stats.ts';

interface Variant {
  name: string;
  what: string;
  bare?: boolean;
  script?: string;
  args?: string[];
  env?: Record<string, string>;
}

const VARIANTS: Variant[] = [
  { name: 'bare', what: 'bare node:https floor', bare: true },
  { name: 'bare-pad', what: "floor answering as many bytes as the webhook's patched answer", bare: true, env: { BARE_PAD: '600' } },
  { name: 'wh-warn-nometrics', what: 'webhook, warn level, no process metrics', script: 'bench/lib/webhook-variant.ts', env: { KL_LOG_LEVEL: 'warn', KL_DEFAULT_METRICS: '0' } },
  { name: 'wh-warn', what: 'webhook CLI, --log-level warn', args: ['--log-level', 'warn'] },
  { name: 'wh-info-explicit', what: 'webhook, info, redact paths without wildcards', script: 'bench/lib/webhook-variant.ts', env: { KL_LOGGER: 'explicit-redact' } },
  { name: 'wh-info-async', what: 'webhook, info, asynchronous log destination', script: 'bench/lib/webhook-variant.ts', env: { KL_LOGGER: 'async' } },
  { name: 'wh-default', what: 'webhook CLI, defaults (info: one line per decision)' },
];

/** CPU milliseconds per thread name of a process. */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out[comm] = (out[comm] ?? 0) + (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      /* a thread that just ended */
    }
  }
  return out;
}

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '8' } } });
const body = JSON.stringify(JSON.parse(readFileSync(new URL('../test/fixtures/admission/deployment-ssa.json', import.meta.url), 'utf8')));
const pki = benchPki();
const logs = mkdtempSync(join(tmpdir(), 'kube-latch-variants-'));
const running: Array<{ v: Variant; child: Child; url: string; cpu: number[]; main: number[]; rps: number[] }> = [];
try {
  console.log(`machine: ${describeMachine()}`);
  for (const v of VARIANTS) {
    const port = await freePort();
    const mp = await freePort();
    const args = v.bare
      ? ['bench/bare-server.ts', String(port), pki.certFile, pki.keyFile]
      : v.script
        ? [v.script, '--port', String(port), '--metrics-port', String(mp), '--cert-dir', pki.dir]
        : [CLI, 'webhook', '--port', String(port), '--metrics-port', String(mp), '--cert-dir', pki.dir, '--bind-address', '127.0.0.1', ...(v.args ?? [])];
    const child = spawnNode(v.name, args, join(logs, `${v.name}.log`), { env: v.env });
    await waitHealthy(child, v.bare ? `https://127.0.0.1:${port}/` : `http://127.0.0.1:${mp}/readyz`, pki.caPem);
    running.push({ v, child, url: `https://127.0.0.1:${port}/mutate`, cpu: [], main: [], rps: [] });
  }
  for (const r of running) await maxLoad({ url: r.url, ca: pki.caPem, body }, { connections: 8, seconds: 3 });
  for (let i = 0; i < Number(values.rounds); i++) {
    for (const r of running) {
      const before = threadCpu(r.child.pid);
      const res = await maxLoad({ url: r.url, ca: pki.caPem, body }, { connections: 8, seconds: 3 });
      const after = threadCpu(r.child.pid);
      const total = Object.keys(after).reduce((s, k) => s + after[k]! - (before[k] ?? 0), 0);
      r.cpu.push((total * 1000) / res.ok);
      r.main.push((((after['MainThread'] ?? 0) - (before['MainThread'] ?? 0)) * 1000) / res.ok);
      r.rps.push(res.rps);
    }
  }
  const floor = running[0]!;
  console.log(`${Number(values.rounds)} alternating rounds of 3 s, 8 connections; medians`);
  for (const r of running) {
    console.log(
      `${r.v.name.padEnd(18)} CPU ${fmt(median(r.cpu), 0).padStart(4)} µs/answer (main thread ${fmt(median(r.main), 0)})  ` +
        `${int(median(r.rps)).padStart(6)} req/s  vs floor: CPU ${fmt(median(floor.cpu) / median(r.cpu))}, req/s ${fmt(median(r.rps) / median(floor.rps))}  — ${r.v.what}`,
    );
  }
} finally {
  for (const r of running) await r.child.stop();
  pki.cleanup();
  rmSync(logs, { recursive: true, force: true });
}
