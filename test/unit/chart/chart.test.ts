// charts/kube-latch, checked with helm itself: lint --strict, the schema, and `helm template` output for
// every requirement of DESIGN §5 and issue 5, asserted on the parsed YAML.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_METRICS_PORT as WATCHER_METRICS_PORT, watcherFlags } from '../../../src/cli/watcher.ts';
import { webhookFlags } from '../../../src/cli/webhook.ts';
import { CHART_DIR, find, helm, kinds, render, type K8sObject } from './helm.ts';
import { allows, permissionMatrix, type PolicyRule } from './rbac.ts';

const NS = 'kube-latch-system';
const FULL = 'kl-kube-latch';

const VARIANTS: Record<string, Record<string, unknown>> = {
  default: {},
  certManager: { certManager: { enabled: true } },
  'certManager with an existing ClusterIssuer': { certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } },
  'one replica': { replicaCount: 1 },
  'networkPolicy and serviceMonitor': {
    networkPolicy: { enabled: true, metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    serviceMonitor: { enabled: true, labels: { release: 'prom' } },
  },
  'ssh git': {
    git: { url: 'git@git.example.test:org/fleet.git', sshSecret: 'git-ssh', knownHosts: 'git.example.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample', mode: 'pr', path: ['clusters/prod', 'apps'] },
  },
  'https git': { git: { url: 'https://git.example.test/org/fleet.git', tokenSecret: 'git-token', provider: 'gitlab' } },
  'webhook only': { watcher: { enabled: false } },
};

const containers = (objs: K8sObject[]) => find(objs, 'Deployment').spec.template.spec.containers as any[];
const container = (objs: K8sObject[], name: string) => {
  const c = containers(objs).find((x) => x.name === name);
  assert.ok(c, `container ${name}`);
  return c;
};
const env = (c: any): Record<string, unknown> => Object.fromEntries((c.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('helm lint --strict', () => {
  for (const [name, values] of Object.entries(VARIANTS)) {
    test(`passes: ${name}`, async () => {
      const r = await helm(['lint', '--strict', CHART_DIR, '--namespace', NS], values);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }
});

describe('Chart.yaml', () => {
  test('apiVersion v2 and kubeVersion >=1.28: older clusters are refused, current ones accepted', async () => {
    const old = await helm(['template', 'kl', CHART_DIR, '--kube-version', '1.27.9']);
    assert.notEqual(old.code, 0);
    assert.match(old.stderr, /kubeVersion|incompatible/i);
    for (const v of ['1.28.0', '1.36.3']) assert.equal((await helm(['template', 'kl', CHART_DIR, '--kube-version', v])).code, 0, v);
    const meta = await helm(['show', 'chart', CHART_DIR]);
    assert.match(meta.stdout, /^apiVersion: v2$/m);
    assert.match(meta.stdout, /^kubeVersion: '?>=1\.28\.0-0'?$/m);
  });
});

describe('values.schema.json rejects bad values', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown top-level key', { replicas: 3 }, /additional properties 'replicas' not allowed|replicas/],
    ['an unknown nested key', { git: { repo: 'x' } }, /additional properties 'repo' not allowed|repo/],
    ['a git mode other than push or pr', { git: { mode: 'merge' } }, /mode/],
    ['an unknown ladder', { policy: { ladder: 'fibonacci' } }, /ladder/],
    ['step:0', { policy: { ladder: 'step:0' } }, /ladder/],
    ['a tolerance below 1', { policy: { tolerance: '0.5' } }, /tolerance/],
    ['a non-numeric tolerance', { policy: { tolerance: 'two' } }, /tolerance/],
    ['zero replicas', { replicaCount: 0 }, /replicaCount/],
    ['a settle time that is not a duration', { watcher: { settleUp: 'soon' } }, /settleUp/],
    ['an image digest that is not sha256', { image: { digest: 'latest' } }, /digest/],
    ['an https url with credentials in it', { git: { url: 'https://user:secret@git.example.test/org/repo.git' } }, /url/],
    ['certManager.enabled as a string', { certManager: { enabled: 'yes' } }, /enabled/],
    ['a port out of range', { webhook: { port: 70000 } }, /port/],
    ['a self-signed lifetime of zero', { selfSigned: { certLifetime: '0s' } }, /certLifetime/],
    ['an author name with angle brackets', { git: { author: { name: 'a <b>', email: 'a@b.test' } } }, /name/],
    ['a signing format other than ssh or gpg', { git: { signing: { format: 'x509', secret: 's' } } }, /format/],
    ['a negative preStop sleep', { webhook: { preStopSleepSeconds: -1 } }, /preStopSleepSeconds/],
    ['a fractional termination grace period', { terminationGracePeriodSeconds: 30.5 }, /terminationGracePeriodSeconds/],
  ];
  for (const [what, values, message] of bad) {
    test(what, async () => {
      const r = await helm(['template', 'kl', CHART_DIR, '--namespace', NS], values);
      assert.notEqual(r.code, 0, `rendered although ${what}`);
      assert.match(r.stderr, /schema/);
      assert.match(r.stderr, message);
    });
  }
});

describe('helm template: what is rendered', () => {
  test('default values: the self-signed set, nothing optional', async () => {
    assert.deepEqual(kinds(await render()), [
      `ClusterRole/${FULL}`,
      `ClusterRoleBinding/${FULL}`,
      `Deployment/${FULL}`,
      `MutatingWebhookConfiguration/${FULL}`,
      `PodDisruptionBudget/${FULL}`,
      `Role/${FULL}`,
      `RoleBinding/${FULL}`,
      `Secret/${FULL}-self-signed-ca`,
      `Service/${FULL}`,
      `Service/${FULL}-metrics`,
      `ServiceAccount/${FULL}`,
    ]);
  });

  test('every namespaced object lands in the release namespace; cluster-scoped ones carry none', async () => {
    const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
    for (const values of Object.values(VARIANTS)) {
      for (const o of await render(values, { namespace: 'tools' })) {
        if (clusterScoped.has(o.kind)) assert.equal(o.metadata.namespace, undefined, `${o.kind} ${o.metadata.name}`);
        else assert.equal(o.metadata.namespace, 'tools', `${o.kind} ${o.metadata.name}`);
        assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'kl');
      }
    }
  });

  test('a long release name still gives valid names (Service and labels within 63 characters)', async () => {
    const release = 'a-very-long-release-name-for-a-production-cluster-x1'; // helm's limit: 53
    for (const o of await render({}, { release })) {
      assert.ok(o.metadata.name.length <= (o.kind === 'Service' ? 63 : 253), `${o.kind} ${o.metadata.name}`);
      assert.match(o.metadata.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      for (const v of Object.values(o.metadata.labels ?? {})) assert.ok(v.length <= 63, v);
    }
  });
});

describe('Deployment', () => {
  test('one pod, two containers: the webhook and the watcher sidecar, from one image', async () => {
    const objs = await render();
    const d = find(objs, 'Deployment');
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(containers(objs).map((c) => c.name), ['webhook', 'watcher']);
    assert.deepEqual(container(objs, 'webhook').args, ['webhook']);
    assert.deepEqual(container(objs, 'watcher').args, ['watcher']);
    assert.equal(container(objs, 'webhook').image, 'ghcr.io/kube-latch/kube-latch:0.1.0');
    assert.equal(container(objs, 'watcher').image, container(objs, 'webhook').image);
    assert.deepEqual(d.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'kube-latch', 'app.kubernetes.io/instance': 'kl' });
    for (const [k, v] of Object.entries(d.spec.selector.matchLabels)) assert.equal(d.spec.template.metadata.labels[k], v);
  });

  test('image: tag, digest and pull policy come from values', async () => {
    const tagged = await render({ image: { repository: 'registry.example.test/kl', tag: '1.2.3', pullPolicy: 'Always' } });
    assert.equal(container(tagged, 'webhook').image, 'registry.example.test/kl:1.2.3');
    assert.equal(container(tagged, 'watcher').imagePullPolicy, 'Always');
    const digest = 'sha256:' + 'a'.repeat(64);
    assert.equal(container(await render({ image: { digest } }), 'watcher').image, `ghcr.io/kube-latch/kube-latch@${digest}`);
  });

  test('replicas spread over nodes with podAntiAffinity on the pod labels', async () => {
    const objs = await render();
    const anti = find(objs, 'Deployment').spec.template.spec.affinity.podAntiAffinity;
    const term = anti.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
    assert.equal(term.topologyKey, 'kubernetes.io/hostname');
    assert.deepEqual(term.labelSelector.matchLabels, find(objs, 'Deployment').spec.selector.matchLabels);
    const custom = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['system'] }] }] } } };
    assert.deepEqual(find(await render({ affinity: custom }), 'Deployment').spec.template.spec.affinity, custom);
  });

  test('restricted securityContext: non-root 65532, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', async () => {
    for (const values of Object.values(VARIANTS)) {
      const objs = await render(values);
      const pod = find(objs, 'Deployment').spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.securityContext.runAsUser, 65532);
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
      assert.equal(pod.hostNetwork, undefined);
      for (const c of pod.containers) {
        const sc = c.securityContext;
        assert.equal(sc.runAsNonRoot, true, c.name);
        assert.equal(sc.runAsUser, 65532, c.name);
        assert.equal(sc.readOnlyRootFilesystem, true, c.name);
        assert.equal(sc.allowPrivilegeEscalation, false, c.name);
        assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, c.name);
        assert.equal(sc.seccompProfile.type, 'RuntimeDefault', c.name);
        assert.equal(sc.privileged, undefined, c.name);
      }
    }
  });

  test('writable paths are emptyDirs: /tmp (HOME) for both, the git work dir for the watcher', async () => {
    const objs = await render();
    const volumes = Object.fromEntries((find(objs, 'Deployment').spec.template.spec.volumes as any[]).map((v) => [v.name, v]));
    for (const c of containers(objs)) {
      const tmp = (c.volumeMounts as any[]).find((m) => m.mountPath === '/tmp');
      assert.ok(tmp && volumes[tmp.name].emptyDir, `${c.name} /tmp is an emptyDir`);
      assert.equal(env(c)['HOME'], '/tmp');
    }
    const watcher = container(objs, 'watcher');
    const workDir = env(watcher)['KUBE_LATCH_WORK_DIR'] as string;
    const work = (watcher.volumeMounts as any[]).find((m) => workDir.startsWith(m.mountPath + '/') || workDir === m.mountPath);
    assert.ok(work && volumes[work.name].emptyDir, 'the git work dir is on an emptyDir');
  });

  test('probes on the metrics ports: webhook /healthz and /readyz on 8080, watcher on 8081', async () => {
    const objs = await render();
    for (const [name, port] of [['webhook', 8080], ['watcher', 8081]] as const) {
      const c = container(objs, name);
      const named = (c.ports as any[]).find((p) => p.name === c.livenessProbe.httpGet.port);
      assert.equal(named?.containerPort, port, `${name} probe port`);
      assert.equal(c.livenessProbe.httpGet.path, '/healthz');
      assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      assert.equal(c.readinessProbe.httpGet.port, c.livenessProbe.httpGet.port);
      assert.equal(env(c)['KUBE_LATCH_METRICS_PORT'], String(port));
    }
    assert.equal((container(objs, 'webhook').ports as any[]).find((p) => p.name === 'https').containerPort, 9443);
  });

  test('resources for both containers, from values', async () => {
    const objs = await render({ resources: { webhook: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } }, watcher: { requests: { cpu: '20m', memory: '48Mi' } } } });
    assert.deepEqual(container(objs, 'webhook').resources, { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } });
    assert.deepEqual(container(objs, 'watcher').resources.requests, { cpu: '20m', memory: '48Mi' });
    for (const c of containers(await render())) {
      assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, c.name);
    }
  });

  test('configuration reaches each container as KUBE_LATCH_* variables', async () => {
    const objs = await render({
      policy: { ladder: 'sig1', tolerance: 1.5 },
      watcher: { settleUp: '90s', settleDown: 86400, batchWindow: 3600000 },
      git: { url: 'https://git.example.test/org/fleet.git', branch: 'prod', mode: 'pr', path: ['clusters/a', 'apps'], author: { name: 'Latch Bot', email: 'bot@example.test' } },
      clusterName: 'eu-1',
    });
    const w = env(container(objs, 'watcher'));
    assert.equal(w['KUBE_LATCH_REPO'], 'https://git.example.test/org/fleet.git');
    assert.equal(w['KUBE_LATCH_BRANCH'], 'prod');
    assert.equal(w['KUBE_LATCH_MODE'], 'pr');
    assert.equal(w['KUBE_LATCH_PATH'], 'clusters/a,apps');
    assert.equal(w['KUBE_LATCH_SETTLE_UP'], '90s');
    assert.equal(w['KUBE_LATCH_SETTLE_DOWN'], '86400');
    assert.equal(w['KUBE_LATCH_BATCH_WINDOW'], '3600000', 'whole numbers never print as 3.6e+06');
    assert.equal(w['KUBE_LATCH_LADDER'], 'sig1');
    assert.equal(w['KUBE_LATCH_TOLERANCE'], '1.5');
    assert.equal(w['KUBE_LATCH_CLUSTER_NAME'], 'eu-1');
    assert.equal(w['KUBE_LATCH_AUTHOR'], 'Latch Bot <bot@example.test>');
    assert.equal(w['KUBE_LATCH_LEASE_NAME'], `${FULL}-watcher`);
    assert.deepEqual(w['KUBE_LATCH_LEASE_NAMESPACE'], { fieldRef: { fieldPath: 'metadata.namespace' } });
    assert.deepEqual(w['POD_NAME'], { fieldRef: { fieldPath: 'metadata.name' } }, 'the Lease holder is named after the pod');
    assert.equal(env(container(await render(), 'watcher'))['KUBE_LATCH_PATH'], undefined, 'no path: the whole repository');
    const h = env(container(objs, 'webhook'));
    assert.equal(h['KUBE_LATCH_LADDER'], 'sig1');
    assert.equal(h['KUBE_LATCH_TOLERANCE'], '1.5');
    assert.equal(h['KUBE_LATCH_PORT'], '9443');
    for (const c of containers(objs)) {
      for (const e of c.env as any[]) assert.match(e.name, /^(KUBE_LATCH_[A-Z0-9_]+|HOME|POD_NAME)$/, `${c.name} ${e.name}`);
      assert.equal(new Set((c.env as any[]).map((e) => e.name)).size, c.env.length, `${c.name}: no variable twice`);
    }
  });

  test('git credentials are mounted files, never environment variables', async () => {
    const objs = await render({
      git: {
        url: 'git@git.example.test:org/fleet.git',
        sshSecret: 'git-ssh',
        knownHosts: 'git.example.test ssh-ed25519 AAAAkey',
        tokenSecret: 'git-token',
        signing: { format: 'gpg', secret: 'git-signing' },
      },
    });
    const pod = find(objs, 'Deployment').spec.template.spec;
    for (const c of pod.containers) {
      for (const e of c.env as any[]) assert.equal(e.valueFrom?.secretKeyRef, undefined, `${c.name} ${e.name} reads a Secret`);
      assert.equal(c.envFrom, undefined);
    }
    const w = container(objs, 'watcher');
    const volumes = Object.fromEntries((pod.volumes as any[]).map((v) => [v.name, v]));
    const mountOf = (file: string) => {
      const m = (w.volumeMounts as any[]).find((x) => file.startsWith(x.mountPath + '/'));
      assert.ok(m, `a mount holds ${file}`);
      assert.equal(m.readOnly, true);
      return volumes[m.name];
    };
    const e = env(w);
    const ssh = mountOf(e['KUBE_LATCH_SSH_KEY'] as string);
    assert.equal(ssh.secret.secretName, 'git-ssh');
    assert.deepEqual(ssh.secret.items, [{ key: 'ssh-privatekey', path: 'id' }]);
    assert.equal(ssh.secret.defaultMode, 0o440); // owned by root, group-readable via fsGroup: ssh accepts it
    const token = mountOf(e['KUBE_LATCH_TOKEN_FILE'] as string);
    assert.equal(token.secret.secretName, 'git-token');
    assert.deepEqual(token.secret.items, [{ key: 'token', path: 'token' }]);
    assert.equal(e['KUBE_LATCH_SIGN'], 'gpg');
    const signing = mountOf(e['KUBE_LATCH_SIGNING_KEY'] as string);
    assert.equal(signing.secret.secretName, 'git-signing');
    const known = mountOf(e['KUBE_LATCH_KNOWN_HOSTS'] as string);
    const cm = find(objs, 'ConfigMap', known.configMap.name);
    assert.equal(cm.data.known_hosts, 'git.example.test ssh-ed25519 AAAAkey\n');
    // The webhook container sees none of it.
    assert.deepEqual((container(objs, 'webhook').volumeMounts as any[]).map((m) => m.name), ['tmp']);
  });

  test('watcher.enabled=false leaves the webhook alone in the pod, without watcher RBAC', async () => {
    const objs = await render({ watcher: { enabled: false } });
    assert.deepEqual(containers(objs).map((c) => c.name), ['webhook']);
    const rules = find(objs, 'ClusterRole').rules as PolicyRule[];
    assert.equal(allows(rules, { group: 'apps', resource: 'deployments', verb: 'list' }), false);
    assert.equal(allows(find(objs, 'Role').rules, { group: 'coordination.k8s.io', resource: 'leases', verb: 'create' }), false);
  });
});

describe('Service, ServiceAccount, PodDisruptionBudget', () => {
  test('the webhook Service maps 443 to the https container port 9443', async () => {
    const objs = await render();
    const svc = find(objs, 'Service', FULL);
    assert.deepEqual(svc.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    assert.deepEqual(svc.spec.selector, find(objs, 'Deployment').spec.selector.matchLabels);
  });

  test('the pod runs as the chart ServiceAccount, whose token is mounted only into this pod', async () => {
    const objs = await render();
    const sa = find(objs, 'ServiceAccount');
    const pod = find(objs, 'Deployment').spec.template.spec;
    assert.equal(pod.serviceAccountName, sa.metadata.name);
    assert.equal(sa.automountServiceAccountToken, false);
    assert.equal(pod.automountServiceAccountToken, true);
  });

  test('PodDisruptionBudget minAvailable 1 when replicaCount > 1, none for a single replica', async () => {
    for (const n of [2, 3]) {
      const objs = await render({ replicaCount: n });
      const pdb = find(objs, 'PodDisruptionBudget');
      assert.equal(pdb.spec.minAvailable, 1);
      assert.deepEqual(pdb.spec.selector.matchLabels, find(objs, 'Deployment').spec.selector.matchLabels);
    }
    const one = await render({ replicaCount: 1 });
    assert.equal(one.filter((o) => o.kind === 'PodDisruptionBudget').length, 0);
    assert.equal(find(one, 'Deployment').spec.replicas, 1);
  });
});

describe('MutatingWebhookConfiguration (DESIGN §5)', () => {
  test('exactly the registration of §5', async () => {
    const objs = await render({}, { namespace: 'latch' });
    const mwc = find(objs, 'MutatingWebhookConfiguration');
    assert.equal(mwc.apiVersion, 'admissionregistration.k8s.io/v1');
    assert.equal(mwc.webhooks.length, 1);
    const w = mwc.webhooks[0];
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.equal(w.failurePolicy, 'Ignore');
    assert.equal(w.sideEffects, 'None');
    assert.equal(w.timeoutSeconds, 5);
    assert.equal(w.reinvocationPolicy, 'Never');
    assert.equal(w.matchPolicy, 'Equivalent');
    assert.deepEqual(w.objectSelector, { matchLabels: { 'kube-latch.io/enabled': 'true' } });
    assert.deepEqual(w.namespaceSelector, {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-node-lease', 'latch'] }],
    });
    assert.deepEqual(w.clientConfig.service, { name: 'kl-kube-latch', namespace: 'latch', path: '/mutate', port: 443 });
    assert.equal(w.clientConfig.caBundle, undefined, 'caBundle is injected or patched, never rendered');
    const covered = (w.rules as any[]).flatMap((r) => r.resources.map((res: string) => ({ group: r.apiGroups.join(), version: r.apiVersions.join(), res, ops: r.operations })));
    assert.deepEqual(
      covered.map((c) => `${c.group}/${c.version}/${c.res}`).sort(),
      ['apps/v1/deployments', 'apps/v1/statefulsets', 'argoproj.io/v1alpha1/rollouts'],
    );
    for (const c of covered) {
      assert.deepEqual(c.ops, ['CREATE', 'UPDATE']);
      assert.ok(!c.res.includes('/') && !c.res.includes('*'), `no subresource or wildcard: ${c.res}`);
    }
    assert.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], undefined);
  });

  test('the namespace exclusion follows the release namespace and never repeats a name', async () => {
    const w = find(await render({}, { namespace: 'kube-system' }), 'MutatingWebhookConfiguration').webhooks[0];
    assert.deepEqual(w.namespaceSelector.matchExpressions[0].values, ['kube-system', 'kube-node-lease']);
  });

  test('the Service it calls exists and targets the webhook container', async () => {
    const objs = await render();
    const ref = find(objs, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.service;
    const svc = find(objs, 'Service', ref.name);
    const port = (svc.spec.ports as any[]).find((p) => p.port === ref.port);
    assert.ok((container(objs, 'webhook').ports as any[]).some((p) => p.name === port.targetPort));
  });
});

describe('RBAC', () => {
  const rulesOf = (o: K8sObject) => (o.rules ?? []) as PolicyRule[];

  test('no wildcard anywhere, no cluster-wide Secrets, no delete, no escalation verbs', async () => {
    for (const [name, values] of Object.entries(VARIANTS)) {
      const objs = await render(values);
      for (const role of objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
        for (const r of rulesOf(role)) {
          for (const x of [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs, ...(r.resourceNames ?? [])]) {
            assert.ok(!x.includes('*'), `${name}: ${role.kind} has a wildcard: ${JSON.stringify(r)}`);
          }
          for (const v of ['delete', 'deletecollection', 'escalate', 'bind', 'impersonate']) assert.ok(!r.verbs.includes(v), `${name}: ${role.kind} grants ${v}`);
          assert.equal(r.nonResourceURLs, undefined);
        }
      }
      const cr = find(objs, 'ClusterRole');
      assert.ok(!rulesOf(cr).some((r) => r.resources?.includes('secrets')), `${name}: ClusterRole names secrets`);
      for (const r of rulesOf(cr)) {
        if (r.resources?.some((x) => x.startsWith('mutatingwebhookconfigurations'))) {
          assert.deepEqual(r.resourceNames, [FULL], `${name}: the webhook configuration rule is limited to its own name`);
        }
      }
    }
  });

  test('bindings give the rules to the chart ServiceAccount, the Role only in the release namespace', async () => {
    const objs = await render();
    const sa = find(objs, 'ServiceAccount').metadata.name;
    for (const [binding, role] of [['ClusterRoleBinding', 'ClusterRole'], ['RoleBinding', 'Role']] as const) {
      const b = find(objs, binding);
      assert.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: role, name: find(objs, role).metadata.name });
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: NS }]);
    }
    assert.equal(find(objs, 'Role').metadata.namespace, NS);
  });

  test('self-signed mode, watcher on: the permission matrix, row by row', async () => {
    const objs = await render();
    const cluster = rulesOf(find(objs, 'ClusterRole'));
    const local = rulesOf(find(objs, 'Role'));
    const matrix = permissionMatrix({ namespace: NS, webhookConfig: FULL, caSecret: `${FULL}-self-signed-ca`, lease: `${FULL}-watcher` }, 'apps-prod');
    for (const row of matrix) {
      const rules = row.namespace === NS ? [...cluster, ...local] : cluster;
      assert.equal(allows(rules, row), row.allowed, `${row.allowed ? 'should' : 'must not'} ${row.verb} ${row.group}/${row.resource}${row.name ? ' ' + row.name : ''} in ${row.namespace ?? 'all namespaces'} (${row.why})`);
    }
  });

  test('the names in the rules are the objects the pod uses', async () => {
    const objs = await render();
    const webhook = env(container(objs, 'webhook'));
    const watcher = env(container(objs, 'watcher'));
    assert.equal(webhook['KUBE_LATCH_WEBHOOK_CONFIG'], find(objs, 'MutatingWebhookConfiguration').metadata.name);
    assert.equal(webhook['KUBE_LATCH_CA_SECRET'], find(objs, 'Secret').metadata.name);
    assert.equal(webhook['KUBE_LATCH_SERVICE_NAME'], find(objs, 'Service', FULL).metadata.name);
    const local = rulesOf(find(objs, 'Role'));
    assert.ok(allows(local, { group: '', resource: 'secrets', verb: 'update', name: webhook['KUBE_LATCH_CA_SECRET'] as string }));
    assert.ok(allows(local, { group: 'coordination.k8s.io', resource: 'leases', verb: 'update', name: watcher['KUBE_LATCH_LEASE_NAME'] as string }));
  });

  test('cert-manager mode drops the Secret and webhook-configuration rights', async () => {
    const objs = await render({ certManager: { enabled: true } });
    const all = [...rulesOf(find(objs, 'ClusterRole')), ...rulesOf(find(objs, 'Role'))];
    assert.equal(all.some((r) => r.resources?.includes('secrets')), false);
    assert.equal(all.some((r) => r.resources?.includes('mutatingwebhookconfigurations')), false);
    assert.ok(allows(all, { group: 'coordination.k8s.io', resource: 'leases', verb: 'create' }));
  });

  test('rbac.create=false and serviceAccount.create=false render neither, and the pod uses the named account', async () => {
    const objs = await render({ rbac: { create: false }, serviceAccount: { create: false, name: 'platform-latch' } });
    assert.deepEqual(objs.filter((o) => /Role|ServiceAccount/.test(o.kind)), []);
    assert.equal(find(objs, 'Deployment').spec.template.spec.serviceAccountName, 'platform-latch');
  });
});

describe('certificates', () => {
  test('self-signed (default): --certs self-signed, the pod namespace from the downward API, an empty CA Secret', async () => {
    const objs = await render();
    const e = env(container(objs, 'webhook'));
    assert.equal(e['KUBE_LATCH_CERTS'], 'self-signed');
    assert.deepEqual(e['KUBE_LATCH_NAMESPACE'], { fieldRef: { fieldPath: 'metadata.namespace' } });
    assert.equal(e['KUBE_LATCH_CA_LIFETIME'], '8760h');
    assert.equal(e['KUBE_LATCH_CERT_LIFETIME'], '720h');
    const secret = find(objs, 'Secret');
    assert.equal(secret.metadata.name, `${FULL}-self-signed-ca`);
    assert.equal(secret.data, undefined, 'Helm never writes the CA, so upgrades keep it');
    assert.equal(secret.stringData, undefined);
    assert.equal(objs.some((o) => o.apiVersion.startsWith('cert-manager.io/')), false);
  });

  test('certManager.enabled: self-signed Issuer → CA Certificate → CA Issuer → serving Certificate, and inject-ca-from', async () => {
    const objs = await render({ certManager: { enabled: true } }, { namespace: 'latch' });
    const issuers = objs.filter((o) => o.kind === 'Issuer');
    const certs = objs.filter((o) => o.kind === 'Certificate');
    assert.equal(issuers.length, 2);
    assert.equal(certs.length, 2);
    for (const o of [...issuers, ...certs]) assert.equal(o.apiVersion, 'cert-manager.io/v1');
    const selfSigned = issuers.find((i) => i.spec.selfSigned)!;
    const caIssuer = issuers.find((i) => i.spec.ca)!;
    const caCert = certs.find((c) => c.spec.isCA)!;
    const serving = certs.find((c) => !c.spec.isCA)!;
    assert.equal(caCert.spec.issuerRef.name, selfSigned.metadata.name);
    assert.equal(caIssuer.spec.ca.secretName, caCert.spec.secretName);
    assert.equal(serving.spec.issuerRef.name, caIssuer.metadata.name);
    assert.equal(serving.spec.issuerRef.kind, 'Issuer');
    assert.deepEqual(serving.spec.dnsNames, ['kl-kube-latch', 'kl-kube-latch.latch', 'kl-kube-latch.latch.svc', 'kl-kube-latch.latch.svc.cluster.local']);
    assert.ok(serving.spec.usages.includes('server auth'));
    const mwc = find(objs, 'MutatingWebhookConfiguration');
    assert.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], `latch/${serving.metadata.name}`);
    // The webhook serves the Certificate's Secret from /tls with --certs file.
    const webhook = container(objs, 'webhook');
    const e = env(webhook);
    assert.equal(e['KUBE_LATCH_CERTS'], 'file');
    assert.equal(e['KUBE_LATCH_CERT_DIR'], '/tls');
    const mount = (webhook.volumeMounts as any[]).find((m) => m.mountPath === '/tls');
    const volume = (find(objs, 'Deployment').spec.template.spec.volumes as any[]).find((v) => v.name === mount.name);
    assert.equal(volume.secret.secretName, serving.spec.secretName);
    assert.equal(objs.filter((o) => o.kind === 'Secret').length, 0);
  });

  test('certManager.issuerRef: the serving Certificate uses the given issuer and nothing else is issued', async () => {
    const objs = await render({ certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } });
    assert.equal(objs.filter((o) => o.kind === 'Issuer').length, 0);
    assert.deepEqual(find(objs, 'Certificate').spec.issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });
});

describe('optional objects', () => {
  test('NetworkPolicy: the webhook port open to the apiserver, metrics only to the given peers, egress to DNS, API and git', async () => {
    const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const objs = await render({ networkPolicy: { enabled: true, metricsFrom: from } });
    const np = find(objs, 'NetworkPolicy');
    assert.deepEqual(np.spec.podSelector.matchLabels, find(objs, 'Deployment').spec.selector.matchLabels);
    assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(np.spec.ingress[0], { ports: [{ port: 'https', protocol: 'TCP' }] });
    assert.deepEqual(np.spec.ingress[1].from, from);
    assert.deepEqual(np.spec.ingress[1].ports.map((p: any) => p.port), ['metrics', 'watcher-metrics']);
    const egressPorts = (np.spec.egress as any[]).flatMap((r) => r.ports.map((p: any) => `${p.protocol}/${p.port}`));
    assert.deepEqual(egressPorts.sort(), ['TCP/22', 'TCP/443', 'TCP/53', 'TCP/6443', 'UDP/53']);
    const noEgress = find(await render({ networkPolicy: { enabled: true, egress: false } }), 'NetworkPolicy');
    assert.deepEqual(noEgress.spec.policyTypes, ['Ingress']);
    assert.equal(noEgress.spec.ingress.length, 1, 'no metrics peers, no metrics rule');
  });

  test('ServiceMonitor scrapes both containers through the metrics Service', async () => {
    const objs = await render({ serviceMonitor: { enabled: true, labels: { release: 'prom' } } });
    const sm = find(objs, 'ServiceMonitor');
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(sm.metadata.labels?.['release'], 'prom');
    const svc = find(objs, 'Service', `${FULL}-metrics`);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels?.[k], v);
    assert.notEqual(find(objs, 'Service', FULL).metadata.labels?.['app.kubernetes.io/component'], 'metrics', 'the webhook Service is not scraped');
    assert.deepEqual(sm.spec.endpoints.map((e: any) => e.port), (svc.spec.ports as any[]).map((p) => p.name));
  });
});

describe('pod shutdown: preStop sleep, then the webhook drains within the grace period', () => {
  const cases: Array<[string, Record<string, unknown>, { sleep: string | undefined; grace: number } | RegExp]> = [
    ['defaults: sleep 5 s, 35 s to stop', {}, { sleep: '5', grace: 35 }],
    ['a longer sleep with a grace that covers it', { webhook: { preStopSleepSeconds: 15 }, terminationGracePeriodSeconds: 40 }, { sleep: '15', grace: 40 }],
    ['sleep 0: no preStop hook, 25 s still needed for the drain', { webhook: { preStopSleepSeconds: 0 }, terminationGracePeriodSeconds: 25 }, { sleep: undefined, grace: 25 }],
    ['a grace shorter than sleep + 20 s drain + 5 s is refused', { terminationGracePeriodSeconds: 29 }, /terminationGracePeriodSeconds \(29\) must be at least webhook.preStopSleepSeconds \+ 25 \(30\)/],
    ['a longer sleep without more grace is refused', { webhook: { preStopSleepSeconds: 20 } }, /must be at least .* \(45\)/],
  ];
  for (const [what, values, want] of cases) {
    test(what, async () => {
      if (want instanceof RegExp) {
        const r = await helm(['template', 'kl', CHART_DIR, '--namespace', NS], values);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, want);
        return;
      }
      const pod = find(await render(values), 'Deployment').spec.template.spec;
      assert.equal(pod.terminationGracePeriodSeconds, want.grace);
      const webhook = (pod.containers as any[]).find((c) => c.name === 'webhook');
      if (want.sleep === undefined) assert.equal(webhook.lifecycle, undefined);
      else assert.deepEqual(webhook.lifecycle, { preStop: { exec: { command: ['/bin/sleep', want.sleep] } } });
      // The watcher is not behind the Service: it stops at once, releasing the Lease for another replica.
      assert.equal((pod.containers as any[]).find((c) => c.name === 'watcher').lifecycle, undefined);
    });
  }
});

describe('ports: the chart\'s defaults are the CLI\'s defaults', () => {
  const flagDefault = (flags: typeof webhookFlags, name: string) => flags.find((f) => f.name === name)?.default;
  test('webhook 9443 and 8080, watcher 8081: values, KUBE_LATCH_* and containerPort agree with each subcommand', async () => {
    const objs = await render();
    const table: Array<[string, string, string, number]> = [
      ['webhook', 'KUBE_LATCH_PORT', 'https', Number(flagDefault(webhookFlags, 'port'))],
      ['webhook', 'KUBE_LATCH_METRICS_PORT', 'metrics', Number(flagDefault(webhookFlags, 'metrics-port'))],
      ['watcher', 'KUBE_LATCH_METRICS_PORT', 'watcher-metrics', Number(flagDefault(watcherFlags, 'metrics-port'))],
    ];
    assert.deepEqual(table.map((r) => r[3]), [9443, 8080, 8081], 'DESIGN §6 and docs/install.md');
    assert.equal(WATCHER_METRICS_PORT, 8081);
    for (const [name, variable, port, cliDefault] of table) {
      const c = container(objs, name);
      assert.equal(env(c)[variable], String(cliDefault), `${name} ${variable}`);
      assert.equal((c.ports as any[]).find((p) => p.name === port)?.containerPort, cliDefault, `${name} port ${port}`);
    }
    // The watcher's probes: /healthz for liveness and startup, /readyz (first clone done, informers synced).
    const w = container(objs, 'watcher');
    assert.deepEqual([w.startupProbe, w.livenessProbe, w.readinessProbe].map((p: any) => `${p.httpGet.port} ${p.httpGet.path}`), [
      'watcher-metrics /healthz',
      'watcher-metrics /healthz',
      'watcher-metrics /readyz',
    ]);
  });

  test('a changed port moves the variable, the containerPort and the probes together', async () => {
    const objs = await render({ webhook: { metricsPort: 9090 }, watcher: { metricsPort: 9091 } });
    for (const [name, port] of [['webhook', 9090], ['watcher', 9091]] as const) {
      const c = container(objs, name);
      assert.equal(env(c)['KUBE_LATCH_METRICS_PORT'], String(port));
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
        assert.equal((c.ports as any[]).find((p) => p.name === probe.httpGet.port)?.containerPort, port, `${name} probe`);
      }
    }
  });
});

test('watcher.rolloutMilestones adds the flag and read access to replicasets, and nothing by default', async () => {
  const { renderText } = await import('./helm.ts');
  const off = await renderText();
  const on = await renderText({ watcher: { rolloutMilestones: true } });
  const rs = (docs: string) => /resources:\s*\["replicasets"\]/.test(docs);
  assert.equal(rs(off), false);
  assert.equal(rs(on), true);
  assert.equal(off.includes('KUBE_LATCH_ROLLOUT_MILESTONES'), false);
  assert.match(on, /name: KUBE_LATCH_ROLLOUT_MILESTONES\s+value: "true"/);
});
