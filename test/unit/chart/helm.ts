// Renders charts/kube-latch with the pinned helm (test/controlplane/build.sh builds it) and parses the
// result, for the chart tests and the e2e tests that apply it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ensureToolchain } from '../../../src/devcluster/toolchain.ts';
import { toolVersions } from '../../../src/devcluster/versions.ts';

export const CHART_DIR = fileURLToPath(new URL('../../../charts/kube-latch/', import.meta.url));

/** A rendered Kubernetes object, loosely typed: tests assert on its shape. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

let helmPath: Promise<string> | undefined;

/**
 * The helm binary: $KUBE_LATCH_HELM, else the one build.sh cached for this HELM_VERSION, else whatever
 * build.sh assembles (which builds the toolchain when it is missing).
 */
export function helmBinary(): Promise<string> {
  helmPath ??= (async () => {
    const fromEnv = process.env['KUBE_LATCH_HELM'];
    if (fromEnv) return fromEnv;
    const cacheRoot = process.env['KUBE_LATCH_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'kube-latch');
    const cached = join(cacheRoot, `helm-${toolVersions().helm}`, 'helm');
    if (existsSync(cached)) return cached;
    return (await ensureToolchain()).helm;
  })();
  return helmPath;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with its home folders in a temp dir; values go through a file so that their types survive. */
export async function helm(args: string[], values?: Record<string, unknown>): Promise<HelmResult> {
  const bin = await helmBinary();
  const dir = mkdtempSync(join(tmpdir(), 'kube-latch-helm-'));
  try {
    const extra: string[] = [];
    if (values) {
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify(values));
      extra.push('-f', file);
    }
    const r = spawnSync(bin, [...args, ...extra], {
      encoding: 'utf8',
      env: { ...process.env, HELM_CACHE_HOME: join(dir, 'cache'), HELM_CONFIG_HOME: join(dir, 'config'), HELM_DATA_HOME: join(dir, 'data') },
      timeout: 60_000,
    });
    return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
}

/** `helm template`, parsed; throws with helm's message when rendering fails. */
export async function render(values: Record<string, unknown> = {}, opts: RenderOptions = {}): Promise<K8sObject[]> {
  const text = await renderText(values, opts);
  return parseManifests(text);
}

export async function renderText(values: Record<string, unknown> = {}, opts: RenderOptions = {}): Promise<string> {
  const r = await helm(['template', opts.release ?? 'kl', CHART_DIR, '--namespace', opts.namespace ?? 'kube-latch-system'], values);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  return r.stdout;
}

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as K8sObject | null;
    if (v) out.push(v);
  }
  return out;
}

export function find(objs: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const hits = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (hits.length !== 1) throw new Error(`expected one ${kind}${name ? ' ' + name : ''}, found ${hits.length}`);
  return hits[0]!;
}

export function kinds(objs: readonly K8sObject[]): string[] {
  return objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}
