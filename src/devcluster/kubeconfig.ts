// DIR/kubeconfig of a dev cluster: rendered with the admin client certificate, read back for probes.
import { readFileSync } from 'node:fs';
import type { ApiCredentials } from './api.ts';

/** The admin credential back from DIR/kubeconfig (rendered by renderKubeconfig, so one value per key). */
export function credsFromKubeconfig(state: { server: string; kubeconfig: string }): ApiCredentials | undefined {
  try {
    const text = readFileSync(state.kubeconfig, 'utf8');
    const field = (k: string): string => {
      const m = new RegExp(`\\s${k}: (\\S+)`).exec(text);
      return Buffer.from(m?.[1] ?? '', 'base64').toString('utf8');
    };
    return {
      server: state.server,
      ca: field('certificate-authority-data'),
      cert: field('client-certificate-data'),
      key: field('client-key-data'),
    };
  } catch {
    return undefined;
  }
}

export function renderKubeconfig(server: string, ca: string, cert: string, key: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: kube-latch-dev',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(ca)}`,
    'users:',
    '- name: kube-latch-admin',
    '  user:',
    `    client-certificate-data: ${b64(cert)}`,
    `    client-key-data: ${b64(key)}`,
    'contexts:',
    '- name: kube-latch-dev',
    '  context:',
    '    cluster: kube-latch-dev',
    '    user: kube-latch-admin',
    '    namespace: default',
    'current-context: kube-latch-dev',
    '',
  ].join('\n');
}
