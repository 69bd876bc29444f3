// Fault injection, webhook side: the webhook is SIGKILLed and restarted (twice) while a loop keeps
// server-side applying an opted-in Deployment through the dev cluster's apiserver. With failurePolicy
// Ignore no apply may fail or hang: during an outage the apiserver admits the apply without the webhook
// (fail open), and once the webhook is back it is called again. Latencies per phase are reported.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCluster, type TestCluster } from '../../e2e/helpers/cluster.ts';
import { DECLARED, registerWebhook, startLocalWebhook, type LocalWebhook, type Registration } from '../../e2e/helpers/webhook.ts';
import { applierFor, benchDeployment, type Applier } from './ssa.ts';

type Phase = 'up' | 'down';
interface Sample {
  phase: Phase;
  /** 1-based index of the outage (down) or of the period after it (up; 0 = before the first kill) */
  round: number;
  status: number;
  ms: number;
  /** the stored object carries this apply's declared value: the webhook answered */
  webhook: boolean;
  /** a kill or a restart happened while this apply was in flight: it belongs to neither phase */
  straddles: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN;
}

describe('webhook SIGKILLed during continuous applies (failurePolicy Ignore)', { timeout: 300_000 }, () => {
  let c: TestCluster;
  let wh: LocalWebhook;
  let reg: Registration;
  let applier: Applier;
  let ns: string;

  before(async () => {
    c = await startCluster({ nodes: 1 });
    ns = await c.namespace('faults');
    wh = await startLocalWebhook({ cluster: c });
    reg = await registerWebhook(c, { url: wh.url, caBundle: wh.caPem, failurePolicy: 'Ignore' });
    applier = applierFor(c.kubeconfig, { timeoutMs: 20_000 });
  });
  after(async () => {
    applier?.close();
    await reg?.remove().catch(() => {});
    await wh?.stop();
    await c?.stop();
  });

  test('no apply fails or blocks while the webhook is killed and restarted; it is called again once back', async (t) => {
    const name = 'kill-loop';
    const first = await applier.applyDeployment(benchDeployment(ns, name, 20, 0));
    assert.equal(first.status, 201, JSON.stringify(first.body).slice(0, 300));

    let phase: Phase = 'up';
    let round = 0;
    let epoch = 0; // bumped at each kill and each return, to spot applies in flight across one
    let stop = false;
    const samples: Sample[] = [];
    const errors: string[] = [];
    // One apply after another, as fast as the apiserver answers. d walks 21..38, always in band of the live
    // count and different from the one before, so the stored declared annotation says whether the webhook
    // took part (the webhook records d; an apply admitted without it leaves the annotation as it was).
    // Live stays 20 while the webhook is up, so before the first kill every apply must show the webhook.
    // After an outage live is whatever d was applied last, and an apply whose d equals it cannot be told
    // apart from a re-invocation: those count as "not seen", which only weakens the checks below.
    const loop = (async () => {
      for (let seq = 1; !stop; seq++) {
        const d = 21 + (seq % 18);
        const at = { phase, round };
        const started = epoch;
        try {
          const r = await applier.applyDeployment(benchDeployment(ns, name, d, seq));
          const webhook = r.body?.metadata?.annotations?.[DECLARED] === String(d);
          samples.push({ ...at, status: r.status, ms: r.ms, webhook, straddles: epoch !== started });
          if (r.status >= 300) errors.push(`${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
        } catch (e) {
          samples.push({ ...at, status: 0, ms: NaN, webhook: false, straddles: epoch !== started });
          errors.push((e as Error).message);
        }
      }
    })();

    await sleep(4_000);
    for (const outage of [1, 2]) {
      round = outage;
      epoch++;
      await wh.kill();
      phase = 'down';
      await sleep(5_000);
      await wh.restart(); // spawns again on the same port and certificate; resolves once /readyz is ok
      epoch++;
      phase = 'up';
      await sleep(5_000);
    }
    stop = true;
    await loop;

    // An apply in flight when the webhook is killed fails open (connection reset) though it started in an
    // "up" phase; one in flight at the return may or may not reach the new process. Those few straddle
    // the boundary and are counted apart; every apply counts for the failure check.
    const of = (p: Phase, r: number) => samples.filter((s) => s.phase === p && s.round === r && !s.straddles);
    const lines: string[] = [];
    for (const [p, r] of [['up', 0], ['down', 1], ['up', 1], ['down', 2], ['up', 2]] as Array<[Phase, number]>) {
      const ss = of(p, r);
      const ms = ss.map((s) => s.ms).filter(Number.isFinite);
      lines.push(
        `${p === 'up' ? (r === 0 ? 'before any kill' : `after restart ${r}`) : `outage ${r}`}: ${ss.length} applies, ${ss.filter((s) => s.webhook).length} through the webhook, ` +
          `p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`,
      );
    }
    for (const l of lines) t.diagnostic(l);
    t.diagnostic(`failures: ${errors.length} of ${samples.length} applies (${samples.filter((s) => s.straddles).length} in flight across a kill or a return)`);

    assert.deepEqual(errors, [], 'every apply succeeds (fail open)');
    for (const r of [1, 2]) {
      const down = of('down', r);
      assert.ok(down.length > 0, `applies ran during outage ${r}`);
      assert.ok(down.some((s) => !s.webhook), `outage ${r} was real: some apply was admitted without the webhook`);
      assert.ok(Math.max(...down.map((s) => s.ms)) < 5_000, `no apply in outage ${r} waited for the 5 s webhook timeout`);
      const back = of('up', r);
      assert.ok(back.some((s) => s.webhook), `after restart ${r} the apiserver calls the webhook again`);
    }
    // The single "fail open" that was seen before the first kill (apiserver log: connection reset by
    // peer at the moment of the SIGKILL) was an apply in flight across the kill; with those counted
    // apart, every apply before the first kill went through the webhook.
    const before = of('up', 0);
    assert.ok(before.length > 0 && before.every((s) => s.webhook), 'before the first kill every apply went through the webhook');
  });
});
