// Where the control-plane build lives and which versions it pins. test/controlplane/versions.env is the one
// source of truth: build.sh sources it, and this module parses the same KEY=VALUE lines.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ToolVersions {
  kubernetes: string;
  etcd: string;
  kwok: string;
  helm: string;
}

/** test/controlplane/ in this checkout or package: two levels up from src/devcluster and dist/devcluster. */
export const CONTROLPLANE_DIR = fileURLToPath(new URL('../../test/controlplane/', import.meta.url));

export function parseVersionsEnv(text: string): ToolVersions {
  const vars = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(\S+)$/.exec(line);
    if (!m) throw new Error(`versions.env: cannot parse line "${line}"`);
    vars.set(m[1]!, m[2]!);
  }
  const get = (k: string): string => {
    const v = vars.get(k);
    if (v === undefined) throw new Error(`versions.env: ${k} is missing`);
    return v;
  };
  return { kubernetes: get('K8S_VERSION'), etcd: get('ETCD_VERSION'), kwok: get('KWOK_VERSION'), helm: get('HELM_VERSION') };
}

export function toolVersions(): ToolVersions {
  return parseVersionsEnv(readFileSync(CONTROLPLANE_DIR + 'versions.env', 'utf8'));
}
