// kube_latch_watcher_commits_total counts writes that reached the remote (one per batch), apart from
// kube_latch_watcher_latches_total (one per workload): the dashboard shows both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { Engine } from '../../../src/watcher/engine.ts';
import { WatcherMetrics } from '../../../src/watcher/metrics.ts';
import { deployment, FakeEvents, FakeGit, FakeLeadership, silent } from './fakes.ts';

async function value(m: WatcherMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const found = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return found?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

test('engine: one batch of three latches is one commit and three latches; a value already in git is no commit', async () => {
  const S = 1000;
  const clock = new ManualClock();
  const git = new FakeGit();
  const metrics = new WatcherMetrics();
  const engine = new Engine({ settleUpMs: 60 * S, settleDownMs: 3600 * S, batchWindowMs: 10 * S, defaults: {} }, { git, leadership: new FakeLeadership(true), events: new FakeEvents(), metrics, clock, logger: silent });
  await engine.start();
  assert.equal(await value(metrics, 'kube_latch_watcher_commits_total'), 0, 'exported from the start');
  for (const n of ['a', 'b', 'c']) {
    git.set(deployment(n, 0).ref, 20);
    engine.upsertWorkload(deployment(n, 48));
  }
  await clock.advance(70 * S);
  assert.equal(git.writes.length, 1);
  assert.equal(await value(metrics, 'kube_latch_watcher_commits_total'), 1);
  assert.equal(await value(metrics, 'kube_latch_watcher_latches_total', { direction: 'up' }), 3);
  await engine.stop();
});
