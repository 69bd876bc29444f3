// `npm run bench`: every benchmark of issue 8 that runs on one machine, in one go, with the ratios printed
// from the same run (these machines are noisy; a ratio of two runs taken side by side means more than
// either figure alone).
//   (a) admission throughput and latency: kube-latch webhook against a bare node:https floor (bench/admission.ts)
//   (b) decide() in process (bench/decide.ts, in a child process of its own)
//   (c) apply latency through the dev-cluster apiserver with the webhook registered against without (bench/apply.ts)
//
//   node bench/run.ts [--only admission,decide,apply] [--quick] [--json FILE]
// The JSON of the whole run goes to FILE (default: a file in the temp dir, named at the end).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runAdmission, type AdmissionResult } from './admission.ts';
import { runApply, type ApplyResult } from './apply.ts';
import { describeMachine, ROOT } from './lib/proc.ts';
import { fmt, int } from './lib/stats.ts';

const { values } = parseArgs({
  options: { only: { type: 'string', default: 'admission,decide,apply' }, quick: { type: 'boolean', default: false }, json: { type: 'string' } },
});
const only = new Set(values.only.split(','));
const quick = values.quick;
const out: { started: string; machineBefore: string; machineAfter?: string; admission?: AdmissionResult; decide?: string; apply?: ApplyResult } = {
  started: new Date().toISOString(),
  machineBefore: describeMachine(),
};
console.log(`kube-latch benchmarks, ${out.started}\nmachine: ${out.machineBefore}\n`);

if (only.has('admission')) {
  console.log('== (a) admission: kube-latch webhook vs bare node:https floor');
  out.admission = await runAdmission({ runs: quick ? 2 : 3, seconds: quick ? 4 : 10 });
  console.log();
}
if (only.has('decide')) {
  console.log('== (b) decide() in process');
  const r = spawnSync(process.execPath, ['bench/decide.ts'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, BENCH_SECONDS: quick ? '1' : '3' } });
  out.decide = r.stdout;
  process.stdout.write(r.stdout + r.stderr + '\n');
}
if (only.has('apply')) {
  console.log('== (c) apply latency through the dev-cluster apiserver, webhook registered vs not');
  out.apply = await runApply({ applies: quick ? 50 : 200, blocks: 3 });
  console.log();
}
out.machineAfter = describeMachine();

console.log('== ratios from this run');
const a = out.admission?.summary;
if (a) {
  console.log(`admission throughput webhook/bare:       ${fmt(a.ratio)}  (target ≥ 0.90; ${int(a.webhookRps)} vs ${int(a.bareRps)} req/s, medians)`);
  console.log(`admission CPU per request bare/webhook:  ${fmt(a.cpuRatio)}`);
  console.log(`p99 at half load (${int(a.halfRate)} req/s), webhook:  ${fmt(a.webhookP99Half, 3)} ms  (target < 2 ms; bare ${fmt(a.bareP99Half, 3)} ms; p50 ${fmt(a.webhookP50Half, 3)} ms)`);
}
const p = out.apply?.summary;
if (p) console.log(`apply latency with/without webhook:      ${fmt(p.ratioP50)} at p50, ${fmt(p.ratioMean)} in the mean  (target ≤ 1.15; ${fmt(p.onP50)} vs ${fmt(p.offP50)} ms)`);
console.log(`machine after: ${out.machineAfter}`);
const file = values.json ?? join(tmpdir(), `kube-latch-bench-${out.started.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(out, null, 2));
console.log(`full results: ${file}`);
