// kube-apiserver flags beyond the basics: the aggregation layer (front-proxy client certificate, request
// headers) so extension apiservers such as metrics-server can serve, and an audit log of every write to a
// Deployment or its /scale (RequestResponse), from which the e2e suites count who changed spec.replicas.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** DIR/logs/audit.log: one JSON event per line (audit.k8s.io/v1). */
export const AUDIT_LOG = 'audit.log';

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: RequestResponse
    verbs: [create, update, patch]
    resources:
      - group: apps
        resources: [deployments, deployments/scale]
  - level: None
`;

export function aggregatorAndAuditArgs(dir: string, pki: { caCrt: string; proxyCrt: string; proxyKey: string }): string[] {
  const policy = join(dir, 'pki', 'audit-policy.yaml');
  writeFileSync(policy, AUDIT_POLICY);
  return [
    `--requestheader-client-ca-file=${pki.caCrt}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    `--proxy-client-cert-file=${pki.proxyCrt}`,
    `--proxy-client-key-file=${pki.proxyKey}`,
    `--audit-policy-file=${policy}`,
    `--audit-log-path=${join(dir, 'logs', AUDIT_LOG)}`,
    '--audit-log-format=json',
    '--audit-log-maxsize=200',
  ];
}
