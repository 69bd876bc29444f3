// Third-party CRDs the chart's optional objects are validated against, taken from the projects' own
// sources through the Go module proxy (`go mod download`), so they are the real schemas, cached in the Go
// module cache outside the repo. cert-manager's are rendered from its own Helm chart.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helm } from './helm.ts';

export const CERT_MANAGER_MODULE = 'github.com/cert-manager/cert-manager';
export const CERT_MANAGER_VERSION = 'v1.21.2';
export const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator';
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';

/** The module's folder in the Go module cache, downloading it when missing. */
export function goModuleDir(path: string, version: string): string {
  // Outside any go.mod, so that no project's module settings interfere.
  const r = spawnSync('go', ['mod', 'download', '-json', `${path}@${version}`], {
    cwd: tmpdir(),
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
    timeout: 300_000,
  });
  if (r.error) throw new Error(`go mod download ${path}@${version}: ${r.error.message}`);
  let info: { Dir?: string; Error?: string };
  try {
    info = JSON.parse(r.stdout);
  } catch {
    throw new Error(`go mod download ${path}@${version} failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  }
  if (!info.Dir) throw new Error(`go mod download ${path}@${version}: ${info.Error ?? 'no Dir in the answer'}`);
  return info.Dir;
}

/** cert-manager.io CRDs (Certificate, CertificateRequest, Issuer, ClusterIssuer) rendered by cert-manager's chart. */
export async function certManagerCrds(): Promise<string> {
  const chart = join(goModuleDir(CERT_MANAGER_MODULE, CERT_MANAGER_VERSION), 'deploy', 'charts', 'cert-manager');
  const only = ['certificates', 'certificaterequests', 'issuers', 'clusterissuers'].flatMap((p) => ['--show-only', `templates/crd-cert-manager.io_${p}.yaml`]);
  const r = await helm(['template', 'cert-manager', chart, '--namespace', 'cert-manager', '--set', 'crds.enabled=true', ...only]);
  if (r.code !== 0) throw new Error(`rendering cert-manager's CRDs failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** monitoring.coreos.com ServiceMonitor CRD as prometheus-operator publishes it. */
export function serviceMonitorCrd(): string {
  const dir = goModuleDir(PROMETHEUS_OPERATOR_MODULE, PROMETHEUS_OPERATOR_VERSION);
  return readFileSync(join(dir, 'example', 'prometheus-operator-crd', 'monitoring.coreos.com_servicemonitors.yaml'), 'utf8');
}
