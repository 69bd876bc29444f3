// RBAC rule matching as the apiserver's authorizer does it, for asserting on rendered Roles, plus the
// permission matrix that the chart must grant (and must not) — shared by the chart unit test and the
// e2e `kubectl auth can-i` test.

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Access {
  group: string;
  resource: string;
  verb: string;
  /** the object's name; absent for create, list and watch of a collection */
  name?: string;
}

/** Whether any rule grants `a`. A rule with resourceNames never matches a request without a name (create, list). */
export function allows(rules: readonly PolicyRule[], a: Access): boolean {
  return rules.some(
    (r) =>
      has(r.apiGroups, a.group) &&
      has(r.resources, a.resource) &&
      has(r.verbs, a.verb) &&
      (!r.resourceNames || r.resourceNames.length === 0 || (a.name !== undefined && r.resourceNames.includes(a.name))),
  );
}

function has(list: readonly string[] | undefined, x: string): boolean {
  return (list ?? []).includes(x) || (list ?? []).includes('*');
}

export interface Names {
  namespace: string;
  webhookConfig: string;
  caSecret: string;
  lease: string;
}

export interface Expectation extends Access {
  /** the namespace asked about; undefined means cluster-wide (all namespaces) */
  namespace?: string;
  allowed: boolean;
  why: string;
}

/**
 * What the chart's ServiceAccount may and may not do, in self-signed mode with the watcher on. Each row
 * says why. The unit test evaluates the rendered rules; the e2e test asks the apiserver.
 */
export function permissionMatrix(n: Names, otherNamespace: string): Expectation[] {
  const yes = (a: Omit<Expectation, 'allowed'>): Expectation => ({ ...a, allowed: true });
  const no = (a: Omit<Expectation, 'allowed'>): Expectation => ({ ...a, allowed: false });
  const rows: Expectation[] = [];
  for (const [group, resource] of [['apps', 'deployments'], ['apps', 'statefulsets'], ['argoproj.io', 'rollouts'], ['autoscaling', 'horizontalpodautoscalers']] as const) {
    for (const verb of ['get', 'list', 'watch']) rows.push(yes({ group, resource, verb, why: 'watcher informers on workloads and HPA bounds' }));
    if (group === 'autoscaling') {
      for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) rows.push(no({ group, resource, verb, namespace: otherNamespace, why: 'never writes HPAs' }));
      continue;
    }
    rows.push(yes({ group, resource, verb: 'patch', namespace: otherNamespace, why: 'the kube-latch.io/latched marker after a push (DESIGN §4)' }));
    for (const verb of ['create', 'update', 'delete', 'deletecollection']) rows.push(no({ group, resource, verb, namespace: otherNamespace, why: 'never creates, replaces or deletes workloads' }));
  }
  rows.push(no({ group: 'apps', resource: 'deployments/scale', verb: 'update', namespace: otherNamespace, why: 'never scales' }));
  rows.push(no({ group: 'apps', resource: 'deployments/scale', verb: 'patch', namespace: otherNamespace, why: 'never scales' }));
  rows.push(yes({ group: '', resource: 'events', verb: 'create', namespace: otherNamespace, why: 'Events on workloads (core/v1, src/kube/events.ts)' }));
  rows.push(yes({ group: '', resource: 'events', verb: 'patch', namespace: otherNamespace, why: 'repeats fold into one Event with a count' }));
  rows.push(no({ group: '', resource: 'events', verb: 'delete', namespace: otherNamespace, why: 'no deletes' }));
  rows.push(no({ group: '', resource: 'events', verb: 'list', namespace: otherNamespace, why: 'never reads Events' }));
  rows.push(no({ group: 'events.k8s.io', resource: 'events', verb: 'create', namespace: otherNamespace, why: 'the code uses core/v1 Events only' }));
  const mwc = { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' };
  rows.push(yes({ ...mwc, verb: 'get', name: n.webhookConfig, why: 'self-signed: read caBundle' }));
  rows.push(yes({ ...mwc, verb: 'patch', name: n.webhookConfig, why: 'self-signed: keep caBundle current' }));
  rows.push(yes({ ...mwc, verb: 'watch', name: n.webhookConfig, why: 'self-signed: repair a replaced caBundle at once' }));
  rows.push(no({ ...mwc, verb: 'watch', why: 'only its own configuration, by name' }));
  rows.push(no({ ...mwc, verb: 'patch', name: 'someone-elses-webhook', why: 'only its own configuration' }));
  rows.push(no({ ...mwc, verb: 'list', why: 'only its own configuration, by name' }));
  rows.push(no({ ...mwc, verb: 'create', why: 'Helm creates it' }));
  rows.push(no({ ...mwc, verb: 'delete', name: n.webhookConfig, why: 'Helm owns it' }));
  rows.push(no({ group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', verb: 'patch', name: n.webhookConfig, why: 'no other admission config' }));
  const secret = { group: '', resource: 'secrets' };
  rows.push(yes({ ...secret, verb: 'get', name: n.caSecret, namespace: n.namespace, why: 'self-signed: read the CA' }));
  rows.push(yes({ ...secret, verb: 'update', name: n.caSecret, namespace: n.namespace, why: 'self-signed: fill and renew the CA' }));
  rows.push(yes({ ...secret, verb: 'watch', name: n.caSecret, namespace: n.namespace, why: 'self-signed: see an emptied or replaced CA Secret at once' }));
  rows.push(no({ ...secret, verb: 'watch', namespace: n.namespace, why: 'by name only' }));
  rows.push(no({ ...secret, verb: 'create', namespace: n.namespace, why: 'the chart creates the CA Secret' }));
  rows.push(no({ ...secret, verb: 'list', namespace: n.namespace, why: 'by name only' }));
  rows.push(no({ ...secret, verb: 'get', name: 'git-credentials', namespace: n.namespace, why: 'credentials arrive as mounted files' }));
  rows.push(no({ ...secret, verb: 'delete', name: n.caSecret, namespace: n.namespace, why: 'no deletes' }));
  rows.push(no({ ...secret, verb: 'get', why: 'no Secrets cluster-wide' }));
  rows.push(no({ ...secret, verb: 'list', why: 'no Secrets cluster-wide' }));
  rows.push(no({ ...secret, verb: 'get', name: n.caSecret, namespace: otherNamespace, why: 'no Secrets outside the release namespace' }));
  const lease = { group: 'coordination.k8s.io', resource: 'leases' };
  rows.push(yes({ ...lease, verb: 'create', namespace: n.namespace, why: 'leader election creates its Lease (create cannot be limited by name)' }));
  rows.push(yes({ ...lease, verb: 'get', name: n.lease, namespace: n.namespace, why: 'leader election' }));
  rows.push(yes({ ...lease, verb: 'update', name: n.lease, namespace: n.namespace, why: 'leader election renews' }));
  rows.push(no({ ...lease, verb: 'update', name: 'kube-controller-manager', namespace: n.namespace, why: 'only its own Lease' }));
  rows.push(no({ ...lease, verb: 'create', namespace: otherNamespace, why: 'Leases only in the release namespace' }));
  rows.push(no({ ...lease, verb: 'delete', name: n.lease, namespace: n.namespace, why: 'no deletes' }));
  for (const [group, resource] of [['', 'pods'], ['', 'configmaps'], ['', 'namespaces'], ['', 'serviceaccounts'], ['rbac.authorization.k8s.io', 'clusterroles'], ['rbac.authorization.k8s.io', 'rolebindings']] as const) {
    rows.push(no({ group, resource, verb: 'get', namespace: n.namespace, why: 'not needed' }));
    rows.push(no({ group, resource, verb: 'create', namespace: n.namespace, why: 'not needed' }));
  }
  rows.push(no({ group: '*', resource: '*', verb: '*', why: 'no wildcard' }));
  rows.push(no({ group: '', resource: 'serviceaccounts/token', verb: 'create', name: 'default', namespace: n.namespace, why: 'no token minting' }));
  return rows;
}
