// The GitOps proofs behind docs/flux.md, docs/argocd.md, docs/helm.md and docs/recovery.md, on a real
// control plane (dev cluster) with the webhook running as a local process (`kube-latch webhook`, a CA and
// a leaf with IP SAN 127.0.0.1 from src/certs/authority.ts), registered by url through the
// MutatingWebhookConfiguration of DESIGN §5 (objectSelector on the opt-in label, failurePolicy Ignore,
// sideEffects None, reinvocationPolicy Never, matchPolicy Equivalent, timeoutSeconds 5): the shared
// helpers of ./helpers/webhook.ts, with a namespaceSelector limited to this suite's namespaces.
//
// The HPA's part is played by `kubectl scale` (the /scale subresource, which the webhook never sees).
// Each tool is emulated by the API calls it makes: Flux's drift detection and Argo CD's server-side diff
// are server-side apply dry-runs under their field managers; Argo CD's legacy diff is a client-side
// comparison; Helm 3 is the real helm binary; Helm 4's server-side apply is `kubectl apply --server-side
// --field-manager=helm`. Every apply checks the webhook answered (its warning, or the declared annotation).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCluster, toYaml, waitFor, type RunResult, type TestCluster } from './helpers/cluster.ts';
import { DECLARED, registerWebhook, startLocalWebhook, type LocalWebhook, type Registration } from './helpers/webhook.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-gitops-e2e-'));
const MWC = `kube-latch-gitops-e2e-${randomBytes(3).toString('hex')}`;
let c: TestCluster;
let wh: LocalWebhook | undefined;
let reg: Registration | undefined;
let ns = '';

type Obj = { metadata: { name: string; generation?: number; annotations?: Record<string, string>; managedFields?: { manager: string; operation: string; subresource?: string; fieldsV1?: any }[] }; spec: any };

function deployment(name: string, replicas: number, o: { optIn?: boolean; annotations?: Record<string, string> } = {}): object {
  const labels: Record<string, string> = { app: name };
  if (o.optIn !== false) labels['kube-latch.io/enabled'] = 'true';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    },
  };
}

/** Server-side apply (optionally dry-run) as `manager`, returning the object the apiserver answered with. */
async function ssa(manifest: object, manager: string, o: { dryRun?: boolean; force?: boolean } = {}): Promise<RunResult & { obj?: Obj }> {
  const args = ['apply', '--server-side', `--field-manager=${manager}`, '-o', 'json', '--show-managed-fields', '-f', '-'];
  if (o.force !== false) args.push('--force-conflicts');
  if (o.dryRun) args.push('--dry-run=server');
  const r = await c.kubectl(args, { input: toYaml(manifest), allowFail: true });
  return r.code === 0 ? { ...r, obj: JSON.parse(r.stdout) } : r;
}

/** Client-side `kubectl apply` (what Argo CD's default sync and a human run). */
function csa(manifest: object): Promise<RunResult> {
  return c.kubectl(['apply', '-f', '-'], { input: toYaml(manifest) });
}

async function live(name: string): Promise<Obj> {
  return JSON.parse((await c.kubectl(['get', '-n', ns, 'deployment', name, '-o', 'json', '--show-managed-fields'])).stdout);
}

/** The HPA's way: the /scale subresource. */
function scale(name: string, n: number): Promise<RunResult> {
  return c.kubectl(['scale', '-n', ns, `deployment/${name}`, `--replicas=${n}`]);
}

/** What a drift check compares: spec, labels and annotations (status and bookkeeping metadata aside). */
function comparable(o: Obj): object {
  const m = o.metadata as Obj['metadata'] & { labels?: object };
  const { 'deployment.kubernetes.io/revision': _rev, ...annotations } = m.annotations ?? {};
  return { spec: o.spec, labels: m.labels, annotations };
}

/** Argo CD's legacy diff in essence: every field the manifest sets, compared with live (`ignore` skips JSON pointers). */
function clientSideDrift(manifest: any, liveObj: any, ignore: string[] = [], path = ''): string[] {
  if (ignore.includes(path)) return [];
  if (manifest === null || typeof manifest !== 'object') return manifest === liveObj ? [] : [`${path}: ${JSON.stringify(manifest)} ≠ ${JSON.stringify(liveObj)}`];
  if (liveObj === null || typeof liveObj !== 'object') return [`${path}: missing`];
  return Object.keys(manifest).flatMap((k) => clientSideDrift(manifest[k], liveObj[k], ignore, `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
}

function ownsReplicas(o: Obj, manager: string): boolean {
  return (o.metadata.managedFields ?? []).some((m) => m.manager === manager && m.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined);
}

before(async () => {
  c = await startCluster({ nodes: 1 });
  ns = await c.namespace('gitops', { 'kube-latch-e2e': 'gitops' });

  wh = await startLocalWebhook({ cluster: c });
  reg = await registerWebhook(c, {
    url: wh.url,
    caBundle: wh.caPem,
    name: MWC,
    // only this suite's namespaces, so that a shared cluster is not affected
    namespaceSelector: { matchLabels: { 'kube-latch-e2e': 'gitops' } },
    probeNamespace: ns,
  });
});

after(async () => {
  await reg?.remove().catch(() => {});
  await wh?.stop();
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('Flux: drift detection is an SSA dry-run as kustomize-controller', () => {
  const m = () => deployment('flux-web', 20);

  test('flux: inside the band the dry-run equals live: no drift, with no Flux configuration', async () => {
    const applied = await ssa(m(), 'kustomize-controller');
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.obj!.spec.replicas, 20);
    assert.equal(applied.obj!.metadata.annotations?.[DECLARED], '20');
    await scale('flux-web', 17);

    const dry = await ssa(m(), 'kustomize-controller', { dryRun: true });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.obj!.spec.replicas, 17);
    assert.deepEqual(comparable(dry.obj!), comparable(await live('flux-web')), 'dry-run result and live are the same object: no drift');
    assert.match(dry.stderr, /Warning: kube-latch: kept replicas 17 \(declared 20, band 10-40\)/);
  });

  test('flux: kubectl diff --server-side reports no difference (exit 0)', async () => {
    // kubectl diff compares whole objects, status and resourceVersion included: wait until the pods have
    // settled (no status write for a second), so that only a spec difference could show.
    await waitFor('flux-web to settle', async () => {
      const a = (await live('flux-web')) as Obj & { metadata: { resourceVersion: string } };
      await new Promise((r) => setTimeout(r, 1000));
      return a.metadata.resourceVersion === ((await live('flux-web')) as typeof a).metadata.resourceVersion;
    });
    const r = await c.kubectl(['diff', '--server-side', '--field-manager=kustomize-controller', '--force-conflicts', '-f', '-'], { input: toYaml(m()), allowFail: true });
    assert.equal(r.code, 0, `kubectl diff saw a difference:\n${r.stdout}`);
  });

  test('flux: the reconcile itself (a forced apply) keeps 17 and starts no rollout', async () => {
    const before = await live('flux-web');
    const r = await ssa(m(), 'kustomize-controller');
    assert.equal(r.code, 0, r.stderr);
    const after = await live('flux-web');
    assert.equal(after.spec.replicas, 17);
    assert.equal(after.metadata.generation, before.metadata.generation, 'no spec change, no new generation');
  });

  test('flux: the dry-run needs --force-conflicts once /scale owns spec.replicas (Flux always forces)', async () => {
    await scale('flux-web', 18);
    const r = await ssa(m(), 'kustomize-controller', { dryRun: true, force: false });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /conflict with "kubectl" with subresource "scale".*\.spec\.replicas/);
    const forced = await ssa(m(), 'kustomize-controller', { dryRun: true });
    assert.equal(forced.obj!.spec.replicas, 18);
  });

  test('flux: live outside the band while git is unchanged is kept, and the warning says a latch is due', async () => {
    await scale('flux-web', 55);
    const dry = await ssa(m(), 'kustomize-controller', { dryRun: true });
    assert.equal(dry.obj!.spec.replicas, 55);
    assert.match(dry.stderr, /kube-latch: kept replicas 55 \(declared 20, band 10-40\); new latch point 50 due/);
  });

  test('flux: when git changes its mind beyond the band, drift is detected and the apply sets git’s value', async () => {
    const next = deployment('flux-web', 10); // band 5-20 excludes 55
    const dry = await ssa(next, 'kustomize-controller', { dryRun: true });
    assert.equal(dry.obj!.spec.replicas, 10);
    assert.notDeepEqual(comparable(dry.obj!), comparable(await live('flux-web')), 'Flux sees drift');
    await ssa(next, 'kustomize-controller');
    assert.equal((await live('flux-web')).spec.replicas, 10);
  });

  test('flux: the watcher’s new latch point, once applied, is in-band with live: no drift, live kept', async () => {
    await scale('flux-web', 43);
    const latched = deployment('flux-web', 50); // latch(43) = 50 written to git by the watcher
    const dry = await ssa(latched, 'kustomize-controller', { dryRun: true });
    assert.equal(dry.obj!.spec.replicas, 43);
    await ssa(latched, 'kustomize-controller');
    const after = await live('flux-web');
    assert.equal(after.spec.replicas, 43);
    assert.equal(after.metadata.annotations?.[DECLARED], '50');
  });
});

describe('Argo CD', () => {
  const m = () => deployment('argo-web', 20);

  test('argocd: server-side diff (SSA dry-run as argocd-controller) sees no drift inside the band', async () => {
    const synced = await ssa(m(), 'argocd-controller'); // ServerSideApply=true sync
    assert.equal(synced.code, 0, synced.stderr);
    await scale('argo-web', 17);
    const dry = await ssa(m(), 'argocd-controller', { dryRun: true });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.obj!.spec.replicas, 17);
    assert.deepEqual(comparable(dry.obj!), comparable(await live('argo-web')));
  });

  test('argocd: in the dry-run answer argocd-controller owns spec.replicas (kept value survives removal of non-Argo fields)', async () => {
    const dry = await ssa(m(), 'argocd-controller', { dryRun: true });
    assert.ok(ownsReplicas(dry.obj!, 'argocd-controller'), JSON.stringify(dry.obj!.metadata.managedFields));
    const annotationOwners = (dry.obj!.metadata.managedFields ?? []).filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes(`f:${DECLARED}`));
    assert.deepEqual(annotationOwners, [], 'the webhook’s annotation has no owner, so Argo takes it from live');
  });

  test('argocd: the legacy (client-side) diff sees drift inside the band; selfHeal re-syncs and nothing changes', async () => {
    await csa(m()); // Argo CD's default sync: client-side kubectl apply
    await scale('argo-web', 17);
    for (let round = 1; round <= 3; round++) {
      const l = await live('argo-web');
      assert.deepEqual(clientSideDrift(m(), l), ['/spec/replicas: 20 ≠ 17'], `round ${round}: OutOfSync`);
      const gen = l.metadata.generation;
      const r = await csa(m()); // what selfHeal does about it
      assert.match(r.stderr, /kube-latch: kept replicas 17 \(declared 20, band 10-40\)/);
      assert.equal((await live('argo-web')).metadata.generation, gen, 'each self-heal sync is a no-op');
    }
  });

  test('argocd: ignoreDifferences on /spec/replicas makes the same client-side diff clean', async () => {
    const l = await live('argo-web');
    assert.equal(l.spec.replicas, 17);
    assert.deepEqual(clientSideDrift(m(), l, ['/spec/replicas']), []);
  });
});

describe('Helm', () => {
  const chart = join(tmp, 'chart');

  before(() => {
    mkdirSync(join(chart, 'templates'), { recursive: true });
    writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: tiny\nversion: 0.1.0\n');
    writeFileSync(join(chart, 'values.yaml'), 'replicas: 20\n');
    // Two Deployments from the same values: one opted in, one not (the control).
    writeFileSync(
      join(chart, 'templates', 'deployments.yaml'),
      `{{- range $name, $optIn := dict "latched" true "control" false }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-{{ $name }}
  labels:
    app: {{ $.Release.Name }}-{{ $name }}
    {{- if $optIn }}
    kube-latch.io/enabled: "true"
    {{- end }}
spec:
  replicas: {{ $.Values.replicas }}
  selector:
    matchLabels: {app: {{ $.Release.Name }}-{{ $name }}}
  template:
    metadata:
      labels: {app: {{ $.Release.Name }}-{{ $name }}}
    spec:
      containers: [{name: app, image: example.invalid/app:1}]
{{- end }}
`,
    );
  });

  test('helm 3: upgrade (three-way merge) with values 20 keeps live 17; the non-opted-in control is reset to 20', async () => {
    await c.helm(['upgrade', '--install', 'h3', chart, '-n', ns, '--wait=false']);
    await scale('h3-latched', 17);
    await scale('h3-control', 17);
    const gen = (await live('h3-latched')).metadata.generation;
    const up = await c.helm(['upgrade', '--install', 'h3', chart, '-n', ns]);
    assert.match(up.stdout + up.stderr, /Warning: kube-latch: kept replicas 17 \(declared 20, band 10-40\)/, 'helm shows the webhook’s warning');
    const latched = await live('h3-latched');
    assert.equal(latched.spec.replicas, 17);
    assert.equal(latched.metadata.generation, gen);
    assert.equal((await live('h3-control')).spec.replicas, 20, 'without kube-latch, Helm 3 resets the HPA’s scale');
  });

  test('helm 3: values that move beyond the band win (50 against live 17)', async () => {
    await c.helm(['upgrade', '--install', 'h3', chart, '-n', ns, '--set', 'replicas=50']);
    const l = await live('h3-latched');
    assert.equal(l.spec.replicas, 50);
    assert.equal(l.metadata.annotations?.[DECLARED], '50');
  });

  test('helm 4 (server-side apply as helm): forced, keeps live; unforced, conflicts with the /scale manager', async () => {
    const m = deployment('h4-web', 20);
    assert.equal((await ssa(m, 'helm')).code, 0);
    await scale('h4-web', 17);
    const unforced = await ssa(m, 'helm', { force: false });
    assert.notEqual(unforced.code, 0);
    assert.match(unforced.stderr, /conflict with "kubectl" with subresource "scale".*\.spec\.replicas/);
    const forced = await ssa(m, 'helm');
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.obj!.spec.replicas, 17);
    assert.match(forced.stderr, /kube-latch: kept replicas 17/);
  });

  test('kubectl: plain client-side apply of 20 keeps live 17', async () => {
    const m = deployment('kubectl-web', 20);
    await csa(m);
    await scale('kubectl-web', 17);
    const r = await csa(m);
    assert.match(r.stderr, /Warning: kube-latch: kept replicas 17 \(declared 20, band 10-40\)/);
    assert.equal((await live('kubectl-web')).spec.replicas, 17);
  });
});

describe('dropping replicas from the manifest', () => {
  const without = (name: string) => {
    const d = deployment(name, 1) as { spec: Record<string, unknown> };
    delete d.spec['replicas'];
    return d;
  };

  test('kubectl: a client-side apply without replicas keeps live (rule undeclared), not the default 1', async () => {
    await csa(deployment('drop-csa', 20));
    await scale('drop-csa', 17);
    const r = await csa(without('drop-csa'));
    assert.match(r.stderr, /kube-latch: kept replicas 17 \(replicas undeclared; apiserver default 1 ignored\)/);
    assert.equal((await live('drop-csa')).spec.replicas, 17);
  });

  test('helm 4 / SSA: an apply that stops declaring replicas keeps live (rule undeclared)', async () => {
    await ssa(deployment('drop-ssa', 20), 'helm');
    await scale('drop-ssa', 17);
    await ssa(deployment('drop-ssa', 20), 'helm'); // takes spec.replicas back from /scale
    assert.ok(ownsReplicas(await live('drop-ssa'), 'helm'));
    const r = await ssa(without('drop-ssa'), 'helm');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /kube-latch: kept replicas 17 \(replicas undeclared; apiserver default 1 ignored\)/);
    assert.equal((await live('drop-ssa')).spec.replicas, 17);
  });
});

describe('recovering a cluster from git', () => {
  test('recovery: CREATE from git sets the declared latch point (50) and records it', async () => {
    const r = await csa(deployment('rebuilt', 50));
    const l = await live('rebuilt');
    assert.equal(l.spec.replicas, 50);
    assert.equal(l.metadata.annotations?.[DECLARED], '50');
    assert.doesNotMatch(r.stderr, /kube-latch:/, 'nothing to warn about');
  });

  test('recovery: CREATE clamps the declared value to the bounds, and says so', async () => {
    const r = await csa(deployment('rebuilt-capped', 50, { annotations: { 'kube-latch.io/max-replicas': '30' } }));
    const l = await live('rebuilt-capped');
    assert.equal(l.spec.replicas, 30);
    assert.equal(l.metadata.annotations?.[DECLARED], '50');
    assert.match(r.stderr, /kube-latch: set replicas 30 \(declared 50, band 25-100, bounds 0-30\)/);
  });

  test('recovery: a namespace rebuilt from git (every manifest applied at once) comes back at the declared values', async () => {
    const again = await c.namespace('rebuild', { 'kube-latch-e2e': 'gitops' });
    const manifests = [deployment('a', 20), deployment('b', 5), deployment('c', 200)].map((d: any) => ({ ...d, metadata: { ...d.metadata, namespace: again } }));
    await c.kubectl(['apply', '-f', '-'], { input: toYaml(manifests) });
    const replicas = await Promise.all(['a', 'b', 'c'].map(async (n) => (await c.getJson(['-n', again, 'deployment', n])).spec.replicas));
    assert.deepEqual(replicas, [20, 5, 200]);
  });
});

describe('troubleshooting signals', () => {
  test('metrics: decisions are counted by rule and kind on the metrics port', async () => {
    const text = await wh!.metrics();
    const count = (rule: string) => {
      const line = text.split('\n').find((l) => l.startsWith('kube_latch_webhook_decisions_total{') && l.includes(`rule="${rule}"`) && l.includes('kind="Deployment"'));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    assert.ok(count('create') > 0, text);
    assert.ok(count('unchanged') > 0, 'Flux, Argo, Helm and kubectl re-applied an unchanged git value');
    assert.ok(count('out-of-band') > 0, 'git changed its mind beyond the band');
    assert.match(text, /^kube_latch_webhook_patched_total\{kind="Deployment"\} \d+/m);
  });

  test('troubleshooting: an invalid policy annotation passes with one warning naming it', async () => {
    const r = await csa(deployment('typo', 3, { annotations: { 'kube-latch.io/tolerance': '1.2' } }));
    assert.match(r.stderr, /Warning: kube-latch: ignored kube-latch.io\/tolerance: tolerance 1.2 is below 1.582, the minimum for ladder 1-2-5/);
    assert.equal((await live('typo')).spec.replicas, 3);
  });
});

describe('webhook outage (failurePolicy Ignore)', () => {
  test('outage: with the webhook down an apply is never blocked; it sets the declared value, a bounded step', async () => {
    const m = deployment('outage', 20);
    await csa(m);
    await scale('outage', 17);
    await wh!.kill(); // an abrupt outage
    const r = await c.kubectl(['apply', '-f', '-'], { input: toYaml(m), allowFail: true });
    assert.equal(r.code, 0, `apply blocked: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /kube-latch:/);
    assert.equal((await live('outage')).spec.replicas, 20, 'git’s latch point, within the band of live 17 (10-40 around 20)');
  });
});
