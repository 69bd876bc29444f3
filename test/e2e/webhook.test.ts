// The webhook against a real kube-apiserver (dev cluster): `kube-latch webhook` runs as a child process,
// registered by url with a node-forge CA in caBundle and the rest of DESIGN §5; every proof below is made on
// real objects through kubectl and helm, the clients that GitOps tools and people use.
//
// Numbers in test names refer to the e2e list of issue 3. Live replicas are set the way an HPA sets them,
// through the /scale subresource (`kubectl scale`). Where the webhook's absence would give the same result
// by accident, the test also shows the webhook decided (its debug log) or runs a control without it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { startCluster, waitFor, type RunResult, type TestCluster } from './helpers/cluster.ts';
import { DECLARED, ENABLED_LABEL, registerWebhook, startLocalWebhook, type LocalWebhook, type Registration } from './helpers/webhook.ts';

const ROLLOUT_CRD = join(import.meta.dirname, '../fixtures/crds/rollout.yaml');
const FLUX = { serverSide: true, fieldManager: 'kustomize-controller', force: true } as const;

let c: TestCluster;
let wh: LocalWebhook;
let reg: Registration;
/** reads go straight to the API (a kubectl process per read would add ~20 s to this file) */
let api: KubernetesObjectApi;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-webhook-e2e-'));

before(async () => {
  c = await startCluster({ nodes: 2 });
  wh = await startLocalWebhook({ cluster: c, args: ['--log-level', 'debug'] });
  reg = await registerWebhook(c, { url: wh.url, caBundle: wh.caPem });
  const kc = new KubeConfig();
  kc.loadFromFile(c.kubeconfig);
  api = KubernetesObjectApi.makeApiClient(kc);
  await c.kubectl(['apply', '--server-side', '--field-manager=kube-latch-e2e', '-f', ROLLOUT_CRD]);
  await c.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/rollouts.argoproj.io']);
});

after(async () => {
  await reg?.remove().catch(() => {});
  await wh?.stop();
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

type Kind = 'Deployment' | 'StatefulSet' | 'Rollout';

interface WorkloadOptions {
  /** undefined leaves spec.replicas out of the manifest */
  replicas?: number;
  kind?: Kind;
  /** default: opted in */
  labels?: Record<string, string>;
  image?: string;
}

/** A workload manifest; opted in unless `labels` says otherwise. */
function workload(ns: string, name: string, o: WorkloadOptions = {}): Record<string, unknown> {
  const kind = o.kind ?? 'Deployment';
  const spec: Record<string, unknown> = {};
  if (o.replicas !== undefined) spec['replicas'] = o.replicas;
  if (kind === 'StatefulSet') Object.assign(spec, { serviceName: name, podManagementPolicy: 'Parallel' });
  Object.assign(spec, {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: o.image ?? 'example.invalid/app:1' }] } },
  });
  return {
    apiVersion: kind === 'Rollout' ? 'argoproj.io/v1alpha1' : 'apps/v1',
    kind,
    metadata: { name, namespace: ns, labels: o.labels ?? { app: name, [ENABLED_LABEL]: 'true' } },
    spec,
  };
}

interface Live {
  replicas: number | undefined;
  declared: string | undefined;
}

async function live(ns: string, kind: Kind, name: string): Promise<Live> {
  const apiVersion = kind === 'Rollout' ? 'argoproj.io/v1alpha1' : 'apps/v1';
  const o = (await api.read({ apiVersion, kind, metadata: { name, namespace: ns } })) as { spec?: { replicas?: number }; metadata?: { annotations?: Record<string, string> } };
  return { replicas: o.spec?.replicas, declared: o.metadata?.annotations?.[DECLARED] };
}

/** The webhook's warnings as kubectl printed them (`Warning: kube-latch: …` lines on stderr). */
function warnings(r: RunResult): string[] {
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('Warning: kube-latch'))
    .map((l) => l.slice('Warning: '.length));
}

/** A fresh namespace, deleted (without waiting) when the test ends so that pods do not pile up on the nodes. */
async function namespace(t: TestContext, prefix: string): Promise<string> {
  const ns = await c.namespace(prefix);
  t.after(() => c.kubectl(['delete', 'namespace', ns, '--wait=false']).then(() => {}));
  return ns;
}

async function scale(ns: string, kind: Kind, name: string, n: number): Promise<void> {
  await c.kubectl(['scale', '-n', ns, `${kind.toLowerCase()}/${name}`, `--replicas=${n}`]);
}

/**
 * The webhook's decisions about one object (its debug log names every review it answered), with repeats
 * collapsed: the apiserver runs admission again when its write meets a storage conflict (the controllers
 * update status concurrently), so one apply may be decided twice, identically.
 */
function decisionsFor(ns: string, name: string): string[] {
  const all = wh
    .logs()
    .filter((l) => l['namespace'] === ns && l['name'] === name && typeof l['rule'] === 'string')
    .map((l) => `${String(l['operation'])} ${String(l['rule'])}${l['dryRun'] ? ' dry-run' : ''}`);
  return all.filter((d, i) => d !== all[i - 1]);
}

/** Total /mutate requests the webhook has seen, whatever their outcome. */
async function mutateRequests(): Promise<number> {
  const text = await wh.metrics();
  let n = 0;
  for (const m of text.matchAll(/^kube_latch_webhook_request_duration_seconds_count\{[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

/** Creates (SSA, Flux-like) `name` declaring 20, then scales it to 17 through /scale. */
async function declared20Live17(ns: string, name: string, kind: Kind = 'Deployment'): Promise<void> {
  await c.apply(workload(ns, name, { kind, replicas: 20 }), FLUX);
  assert.deepEqual(await live(ns, kind, name), { replicas: 20, declared: '20' });
  await scale(ns, kind, name, 17);
  assert.deepEqual(await live(ns, kind, name), { replicas: 17, declared: '20' }, '/scale changes replicas, never the declared value');
}

test('CREATE of an opted-in Deployment records the declared value, with no patch of replicas and no warning', async (t) => {
  const ns = await namespace(t, 'create');
  const r = await c.kubectl(['create', '-f', '-'], { input: JSON.stringify(workload(ns, 'web', { replicas: 7 })) });
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 7, declared: '7' });
  assert.deepEqual(warnings(r), []);
  // Without spec.replicas the apiserver defaults 1 before admission; 1 is what was declared.
  await c.kubectl(['create', '-f', '-'], { input: JSON.stringify(workload(ns, 'bare')) });
  assert.deepEqual(await live(ns, 'Deployment', 'bare'), { replicas: 1, declared: '1' });
  assert.deepEqual(decisionsFor(ns, 'web'), ['CREATE create']);
});

test('1. Flux-like server-side apply (kustomize-controller, force) declaring 20 while live is 17 keeps 17 and records declared 20; the warning reaches kubectl', async (t) => {
  const ns = await namespace(t, 'ssa');
  await declared20Live17(ns, 'web');
  const r = await c.apply(workload(ns, 'web', { replicas: 20 }), FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });
  assert.deepEqual(warnings(r), ['kube-latch: kept replicas 17 (declared 20, band 10-40)']);
  assert.deepEqual(decisionsFor(ns, 'web'), ['CREATE create', 'UPDATE unchanged']);
});

test('1b. an SSA declaring 20 for the first time (no declared annotation yet) while live 17 is in band keeps 17', async (t) => {
  const ns = await namespace(t, 'ssa-new');
  // Created by someone else without the opt-in label, scaled to 17; then GitOps takes it over, opted in.
  await c.apply(workload(ns, 'web', { replicas: 17, labels: { app: 'web' } }), { serverSide: true, fieldManager: 'before' });
  const r = await c.apply(workload(ns, 'web', { replicas: 20 }), FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });
  assert.deepEqual(warnings(r), ['kube-latch: kept replicas 17 (declared 20, band 10-40)']);
  assert.deepEqual(decisionsFor(ns, 'web'), ['UPDATE in-band']);
});

test('2. client-side kubectl apply whose declared value changes 20 → 25 while live 17 is in band keeps 17', async (t) => {
  const ns = await namespace(t, 'csa');
  await c.apply(workload(ns, 'web', { replicas: 20 }));
  await scale(ns, 'Deployment', 'web', 17);
  const same = await c.apply(workload(ns, 'web', { replicas: 20 }));
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });
  assert.deepEqual(warnings(same), ['kube-latch: kept replicas 17 (declared 20, band 10-40)']);
  const changed = await c.apply(workload(ns, 'web', { replicas: 25 }));
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '25' });
  assert.deepEqual(warnings(changed), ['kube-latch: kept replicas 17 (declared 25, band 13-50)']);
  assert.deepEqual(decisionsFor(ns, 'web'), ['CREATE create', 'UPDATE unchanged', 'UPDATE in-band']);
});

test('3. a git change out of band (declared 100 while live 17) applies 100, without a warning', async (t) => {
  const ns = await namespace(t, 'oob');
  await declared20Live17(ns, 'web');
  const r = await c.apply(workload(ns, 'web', { replicas: 100 }), FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 100, declared: '100' });
  assert.deepEqual(warnings(r), []);
  // and client-side apply alike, back down out of band: band(5) = 3-10 does not hold 100
  await c.apply(workload(ns, 'csa', { replicas: 20 }));
  await scale(ns, 'Deployment', 'csa', 17);
  await c.apply(workload(ns, 'csa', { replicas: 5 }));
  assert.deepEqual(await live(ns, 'Deployment', 'csa'), { replicas: 5, declared: '5' });
  assert.deepEqual(decisionsFor(ns, 'web'), ['CREATE create', 'UPDATE out-of-band']);
});

test('4. kubectl diff (server-side and client-side) and an SSA dry-run show no replicas drift inside the band; an image change still shows', async (t) => {
  const ns = await namespace(t, 'diff');
  await declared20Live17(ns, 'web');
  await c.apply(workload(ns, 'csa', { replicas: 20 }));
  await scale(ns, 'Deployment', 'csa', 17);

  const diff = (name: string, o: WorkloadOptions, serverSide: boolean) =>
    c.kubectl(['diff', ...(serverSide ? ['--server-side', '--field-manager=kustomize-controller', '--force-conflicts'] : []), '-f', '-'], {
      input: JSON.stringify(workload(ns, name, o)),
      allowFail: true,
    });
  for (const [name, serverSide] of [['web', true], ['csa', false]] as const) {
    const clean = await diff(name, { replicas: 20 }, serverSide);
    assert.equal(clean.code, 0, `no drift expected for ${name}: ${clean.stdout}${clean.stderr}`);
    assert.equal(clean.stdout, '');
    // Without the webhook this is exactly the drift a GitOps tool would flag: 17 → 20.
    const image = await diff(name, { replicas: 20, image: 'example.invalid/app:2' }, serverSide);
    assert.equal(image.code, 1, `image drift expected for ${name}: ${image.stderr}`);
    const changed = image.stdout.split('\n').filter((l) => /^[+-] /.test(l));
    assert.ok(changed.some((l) => l.includes('example.invalid/app:2')), image.stdout);
    assert.ok(!changed.some((l) => l.includes('replicas')), `replicas must not drift:\n${image.stdout}`);
  }

  const dry = await c.kubectl(['apply', '--server-side', '--field-manager=kustomize-controller', '--force-conflicts', '--dry-run=server', '-o', 'json', '-f', '-'], {
    input: JSON.stringify(workload(ns, 'web', { replicas: 20 })),
  });
  const out = JSON.parse(dry.stdout);
  assert.equal(out.spec.replicas, 17);
  assert.equal(out.metadata.annotations[DECLARED], '20');
  assert.deepEqual(warnings(dry), ['kube-latch: kept replicas 17 (declared 20, band 10-40)']);
  assert.ok(decisionsFor(ns, 'web').includes('UPDATE unchanged dry-run'), 'the dry-run went through the webhook');
});

test('dry-run parity: a server dry-run returns the same replicas, declared annotation and warning as the real apply that follows, and changes nothing', async (t) => {
  const ns = await namespace(t, 'parity');
  // One object per apply style: kubectl's first server-side apply of an object last written client-side
  // migrates its managed fields with a second request, which would add a request to one side only.
  await declared20Live17(ns, 'ssa');
  await c.apply(workload(ns, 'csa', { replicas: 20 }));
  await scale(ns, 'Deployment', 'csa', 17);
  const steps: Array<[string, number | undefined, string]> = [
    [ 'ssa', 20, 'unchanged' ],
    [ 'ssa', 25, 'in-band' ],
    [ 'ssa', undefined, 'undeclared' ],
    [ 'ssa', 5, 'out-of-band' ],
    [ 'csa', 20, 'unchanged' ],
    [ 'csa', 30, 'in-band' ],
    [ 'csa', undefined, 'undeclared' ],
    [ 'csa', 5, 'out-of-band' ],
  ];
  for (const [name, replicas, rule] of steps) {
    const label = `${name} declaring ${replicas ?? 'nothing'} (${rule})`;
    const manifest = JSON.stringify(workload(ns, name, { replicas }));
    const style = name === 'ssa' ? ['--server-side', '--field-manager=kustomize-controller', '--force-conflicts'] : [];
    const before = await live(ns, 'Deployment', name);
    const seen = decisionsFor(ns, name).length;
    const dry = await c.kubectl(['apply', ...style, '--dry-run=server', '-o', 'json', '-f', '-'], { input: manifest });
    const d = JSON.parse(dry.stdout);
    assert.deepEqual(await live(ns, 'Deployment', name), before, `${label}: a dry-run changes nothing`);
    const real = await c.kubectl(['apply', ...style, '-f', '-'], { input: manifest });
    const after = await live(ns, 'Deployment', name);
    assert.deepEqual({ replicas: d.spec.replicas, declared: d.metadata.annotations?.[DECLARED] }, after, label);
    assert.deepEqual(warnings(dry), warnings(real), label);
    assert.deepEqual(decisionsFor(ns, name).slice(seen), [`UPDATE ${rule} dry-run`, `UPDATE ${rule}`], label);
  }
});

test('5. kubectl scale (the /scale subresource) never reaches the webhook, in or out of band, for every kind', async (t) => {
  const ns = await namespace(t, 'scale');
  await declared20Live17(ns, 'web');
  await c.apply(workload(ns, 'sts', { kind: 'StatefulSet', replicas: 2 }), FLUX);
  await c.apply(workload(ns, 'ro', { kind: 'Rollout', replicas: 2 }), FLUX);
  const seen = await mutateRequests();
  const logged = wh.logs().length;
  for (const n of [45, 3, 33]) await scale(ns, 'Deployment', 'web', n); // out of band up and down, then in band
  await scale(ns, 'StatefulSet', 'sts', 9);
  await scale(ns, 'Rollout', 'ro', 9);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 33, declared: '20' });
  assert.deepEqual(await live(ns, 'StatefulSet', 'sts'), { replicas: 9, declared: '2' });
  assert.deepEqual(await live(ns, 'Rollout', 'ro'), { replicas: 9, declared: '2' });
  assert.equal(await mutateRequests(), seen, 'no /mutate request during the scales');
  assert.deepEqual(wh.logs().slice(logged).filter((l) => 'rule' in l), [], 'no decision logged during the scales');
  assert.ok(!(await wh.metrics()).includes('rule="pass-through:subresource"'), 'no subresource review ever arrived');
  // control: the counter does move for an apply
  await c.apply(workload(ns, 'web', { replicas: 20 }), FLUX);
  assert.ok((await mutateRequests()) > seen, 'an apply is counted');
});

test('6. dropping replicas from the applied configuration keeps live instead of the reset to 1 (server-side and client-side apply); without the webhook Kubernetes resets to 1', async (t) => {
  const ns = await namespace(t, 'drop');
  const notOptedIn = { app: 'x' };
  // server-side: opted in, then the same steps on a workload that has not opted in (the control). The
  // second apply of 20 takes spec.replicas back from the /scale manager (as Flux's force does after an HPA
  // scaled), so that dropping it from the applied configuration really releases it.
  for (const [name, labels] of [['ssa', undefined], ['ssa-control', notOptedIn]] as const) {
    await c.apply(workload(ns, name, { replicas: 20, labels }), FLUX);
    await scale(ns, 'Deployment', name, 17);
    await c.apply(workload(ns, name, { replicas: 20, labels }), FLUX);
    await c.apply(workload(ns, name, { labels }), FLUX);
  }
  assert.deepEqual(await live(ns, 'Deployment', 'ssa'), { replicas: 17, declared: '20' });
  assert.equal((await live(ns, 'Deployment', 'ssa-control')).replicas, 1);
  // client-side: kubectl sends replicas: null, the apiserver defaults 1
  for (const [name, labels] of [['csa', undefined], ['csa-control', notOptedIn]] as const) {
    await c.apply(workload(ns, name, { replicas: 20, labels }));
    await scale(ns, 'Deployment', name, 17);
    await c.apply(workload(ns, name, { labels }));
  }
  assert.deepEqual(await live(ns, 'Deployment', 'csa'), { replicas: 17, declared: '20' });
  assert.equal((await live(ns, 'Deployment', 'csa-control')).replicas, 1);
  assert.deepEqual(decisionsFor(ns, 'ssa'), ['CREATE create', 'UPDATE unchanged', 'UPDATE undeclared']);
  assert.deepEqual(decisionsFor(ns, 'csa'), ['CREATE create', 'UPDATE undeclared']);
  // A later apply that declares again is judged against the remembered 20.
  await c.apply(workload(ns, 'ssa', { replicas: 20 }), FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'ssa'), { replicas: 17, declared: '20' });
});

test('7. workloads that have not opted in (no label, label "false") and kube-system are untouched', async (t) => {
  const ns = await namespace(t, 'optout');
  const cases: Array<{ ns: string; name: string; labels: Record<string, string> }> = [
    { ns, name: 'nolabel', labels: { app: 'nolabel' } },
    { ns, name: 'false', labels: { app: 'false', [ENABLED_LABEL]: 'false' } },
    { ns: 'kube-system', name: `kl-e2e-${process.pid}`, labels: { app: 'sys', [ENABLED_LABEL]: 'true' } },
  ];
  for (const k of cases) {
    await c.apply(workload(k.ns, k.name, { replicas: 20, labels: k.labels }), FLUX);
    await scale(k.ns, 'Deployment', k.name, 17);
    const r = await c.apply(workload(k.ns, k.name, { replicas: 20, labels: k.labels }), FLUX);
    assert.deepEqual(await live(k.ns, 'Deployment', k.name), { replicas: 20, declared: undefined }, k.name);
    assert.deepEqual(warnings(r), [], k.name);
    assert.deepEqual(decisionsFor(k.ns, k.name), [], `${k.name}: the apiserver never called the webhook`);
  }
  await c.kubectl(['delete', 'deployment', '-n', 'kube-system', cases[2]!.name, '--wait=false']);
});

for (const kind of ['StatefulSet', 'Rollout'] as const) {
  test(`8. ${kind}: create records, SSA and client-side apply keep live in band, dropping replicas keeps live, out of band applies`, async (t) => {
    const ns = await namespace(t, kind.toLowerCase());
    await declared20Live17(ns, 'web', kind);
    const kept = await c.apply(workload(ns, 'web', { kind, replicas: 20 }), FLUX);
    assert.deepEqual(await live(ns, kind, 'web'), { replicas: 17, declared: '20' });
    assert.deepEqual(warnings(kept), ['kube-latch: kept replicas 17 (declared 20, band 10-40)']);
    await c.apply(workload(ns, 'web', { kind }), FLUX);
    assert.deepEqual(await live(ns, kind, 'web'), { replicas: 17, declared: '20' });
    await c.apply(workload(ns, 'web', { kind, replicas: 5 }), FLUX);
    assert.deepEqual(await live(ns, kind, 'web'), { replicas: 5, declared: '5' });

    await c.apply(workload(ns, 'csa', { kind, replicas: 20 }));
    await scale(ns, kind, 'csa', 17);
    await c.apply(workload(ns, 'csa', { kind, replicas: 25 }));
    assert.deepEqual(await live(ns, kind, 'csa'), { replicas: 17, declared: '25' });
    await c.apply(workload(ns, 'csa', { kind }));
    assert.deepEqual(await live(ns, kind, 'csa'), { replicas: 17, declared: '25' });
    assert.deepEqual(decisionsFor(ns, 'web'), ['CREATE create', 'UPDATE unchanged', 'UPDATE undeclared', 'UPDATE out-of-band']);
    assert.deepEqual(decisionsFor(ns, 'csa'), ['CREATE create', 'UPDATE in-band', 'UPDATE undeclared']);
  });
}

test('9. helm upgrade of a chart whose values say 20 while live is 17 keeps 17; changing the values to 25 keeps 17 too', async (t) => {
  const ns = await namespace(t, 'helm');
  const chart = join(tmp, 'chart');
  mkdirSync(join(chart, 'templates'), { recursive: true });
  writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 0.1.0\n');
  writeFileSync(join(chart, 'values.yaml'), 'replicas: 20\nimage: example.invalid/app:1\n');
  const template = workload('{{ .Release.Namespace }}', 'web', { image: '{{ .Values.image }}' });
  (template['spec'] as Record<string, unknown>)['replicas'] = '{{ .Values.replicas }}';
  // the YAML emitter would quote the templates; JSON is YAML, so render JSON and unquote the two numbers
  writeFileSync(join(chart, 'templates', 'deployment.yaml'), JSON.stringify(template, null, 2).replace('"{{ .Values.replicas }}"', '{{ .Values.replicas }}'));

  await c.helm(['install', 'web', chart, '--namespace', ns, '--wait', '--timeout', '60s']);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 20, declared: '20' });
  await scale(ns, 'Deployment', 'web', 17);
  // helm 3's three-way merge puts replicas: 20 back into its patch because live (17) differs from the chart
  const same = await c.helm(['upgrade', 'web', chart, '--namespace', ns, '--set', 'image=example.invalid/app:2']);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });
  // helm prints server warnings through klog on stderr
  assert.match(same.stderr, /kube-latch: kept replicas 17 \(declared 20, band 10-40\)/);
  const changed = await c.helm(['upgrade', 'web', chart, '--namespace', ns, '--set', 'image=example.invalid/app:2', '--set', 'replicas=25']);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '25' });
  assert.match(changed.stderr, /kube-latch: kept replicas 17 \(declared 25, band 13-50\)/);
  const d = await c.getJson(['-n', ns, 'deployment', 'web']);
  assert.equal(d.spec.template.spec.containers[0].image, 'example.invalid/app:2', 'the rest of the upgrade landed');
  assert.deepEqual(
    decisionsFor(ns, 'web').filter((r) => !r.endsWith('dry-run')),
    ['CREATE create', 'UPDATE unchanged', 'UPDATE in-band'],
  );
});

test('10. with the webhook SIGKILLed applies still succeed (fail open) well within its 5 s timeout; restarted, it mutates again', async (t) => {
  const ns = await namespace(t, 'failopen');
  await declared20Live17(ns, 'web');
  const timed = async (o: WorkloadOptions): Promise<number> => {
    const t0 = performance.now();
    await c.apply(workload(ns, 'web', o), FLUX);
    return performance.now() - t0;
  };
  const up = await timed({ replicas: 20 });
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });

  await wh.kill();
  const down = await timed({ replicas: 30 });
  // The apply is not blocked: git's value lands as declared (a bounded step the watcher and HPA correct).
  // The webhook's annotation is owned by no field manager, so the apply without it leaves it in place.
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 30, declared: '20' });
  assert.ok(down < 5_000, `with the webhook down the apply took ${down.toFixed(0)} ms, not less than timeoutSeconds`);
  const metrics = (await c.kubectl(['get', '--raw', '/metrics'])).stdout;
  const failOpen = metrics.match(/^apiserver_admission_webhook_fail_open_count\{[^}]*name="replicas\.kube-latch\.io"[^}]*\} (\d+)$/m);
  assert.ok(failOpen && Number(failOpen[1]) >= 1, 'the apiserver counted the failed-open call');
  t.diagnostic(`apply latency: webhook up ${up.toFixed(0)} ms, webhook SIGKILLed ${down.toFixed(0)} ms`);

  await wh.restart();
  await scale(ns, 'Deployment', 'web', 17);
  await waitFor('the restarted webhook to mutate', async () => {
    await c.apply(workload(ns, 'web', { replicas: 30 }), FLUX);
    return (await live(ns, 'Deployment', 'web')).replicas === 17;
  }, { timeoutMs: 20_000, intervalMs: 200 });
  assert.equal((await live(ns, 'Deployment', 'web')).declared, '30');
});

test('10b. a hung webhook (SIGSTOP) costs one timeout, and the apply still succeeds', async (t) => {
  const ns = await namespace(t, 'hung');
  await declared20Live17(ns, 'web');
  process.kill(wh.pid(), 'SIGSTOP');
  try {
    const t0 = performance.now();
    await c.apply(workload(ns, 'web', { replicas: 30 }), FLUX);
    const took = performance.now() - t0;
    assert.equal((await live(ns, 'Deployment', 'web')).replicas, 30);
    assert.ok(took >= 5_000, `the apiserver waited the whole timeoutSeconds: ${took.toFixed(0)} ms`);
    t.diagnostic(`apply latency with a hung webhook: ${took.toFixed(0)} ms`);
  } finally {
    process.kill(wh.pid(), 'SIGCONT');
  }
  await scale(ns, 'Deployment', 'web', 17);
  await c.apply(workload(ns, 'web', { replicas: 30 }), FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '30' });
});

test('updates that do not declare replicas (kubectl label, kubectl rollout restart) are silent: live and the declared memory kept', async (t) => {
  const ns = await namespace(t, 'meta');
  await declared20Live17(ns, 'web');
  await c.kubectl(['label', '-n', ns, 'deployment/web', 'team=shop']);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });
  await c.kubectl(['rollout', 'restart', '-n', ns, 'deployment/web']);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });
  // The memory still works: git's next unchanged apply keeps 17, a change out of band applies.
  await c.apply(workload(ns, 'web', { replicas: 20 }), FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 17, declared: '20' });
  await c.apply(workload(ns, 'web', { replicas: 50 }), FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'web'), { replicas: 50, declared: '50' });
  // Neither kubectl label nor rollout restart owns spec.replicas or changes it: rule silent (case c).
  assert.deepEqual(decisionsFor(ns, 'web'), ['CREATE create', 'UPDATE silent', 'UPDATE unchanged', 'UPDATE out-of-band']);
});

test('warnings and Events: one warning per apply that keeps a value, each under 120 characters, none when the declared value is applied; the webhook writes no Events', async (t) => {
  const ns = await namespace(t, 'warn');
  await declared20Live17(ns, 'web');
  const kept = await c.apply(workload(ns, 'web', { replicas: 20 }), FLUX);
  const w = warnings(kept);
  assert.equal(w.length, 1);
  assert.ok(w[0]!.length < 120);
  const applied = await c.apply(workload(ns, 'web', { replicas: 100 }), FLUX);
  assert.deepEqual(warnings(applied), []);
  // An invalid policy annotation: allowed, no patch, one warning naming the annotation.
  const typo = workload(ns, 'typo', { replicas: 20 });
  (typo['metadata'] as Record<string, unknown>)['annotations'] = { 'kube-latch.io/ladder': '1-2-6' };
  const bad = await c.apply(typo, FLUX);
  assert.deepEqual(await live(ns, 'Deployment', 'typo'), { replicas: 20, declared: undefined });
  const bw = warnings(bad);
  assert.equal(bw.length, 1);
  assert.match(bw[0]!, /kube-latch\.io\/ladder/);
  const events = await c.getJson(['events', '-n', ns]);
  const ours = events.items.filter((e: { source?: { component?: string }; reportingComponent?: string; message?: string }) =>
    [e.source?.component, e.reportingComponent, e.message].some((s) => s?.includes('kube-latch')),
  );
  assert.deepEqual(ours, [], 'sideEffects: None, so no Events');
});
