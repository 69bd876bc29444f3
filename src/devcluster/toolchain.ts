// The binaries a dev cluster runs, built (or found cached) by test/controlplane/build.sh.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROLPLANE_DIR, toolVersions, type ToolVersions } from './versions.ts';

export interface Toolchain {
  /** one folder holding every binary below (symlinks into the per-version cache) */
  binDir: string;
  kubectl: string;
  helm: string;
  etcd: string;
  kwok: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  /** kwok Stage configs (v0.8 ships no built-in stages), each passed with `-c` */
  kwokStages: string[];
  versions: ToolVersions;
}

export interface ToolchainOptions {
  /** where build.sh's progress lines go; default stderr */
  progress?: (line: string) => void;
}

let pending: Promise<Toolchain> | undefined;

/**
 * Runs build.sh, which returns in well under a second when every binary is cached and builds the missing
 * ones otherwise (minutes, cold). Concurrent callers in one process share one run; build.sh itself takes a
 * lock, so concurrent processes do not build twice either.
 */
export function ensureToolchain(opts: ToolchainOptions = {}): Promise<Toolchain> {
  pending ??= runBuild(opts.progress ?? ((l) => process.stderr.write(l + '\n'))).finally(() => {
    pending = undefined;
  });
  return pending;
}

async function runBuild(progress: (line: string) => void): Promise<Toolchain> {
  const out = await runBuildScript('build.sh', [], progress);
  return toolchainIn(out[out.length - 1]!);
}

/** Runs a builder script of test/controlplane, streaming its stderr progress; resolves to its stdout lines. */
export function runBuildScript(name: string, args: string[], progress: (line: string) => void): Promise<string[]> {
  const script = join(CONTROLPLANE_DIR, name);
  return new Promise<string[]>((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let errTail = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    let partial = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) progress(l);
      errTail = (errTail + d).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (partial) progress(partial);
      const lines = stdout.trim().split('\n').filter((l) => l !== '');
      if (code === 0 && lines.length > 0) resolve(lines);
      else reject(new Error(`${script} failed (exit ${code}): ${errTail.trim().split('\n').pop() ?? ''}`));
    });
  });
}

/** Describes the toolchain in a folder that build.sh assembled; throws if a binary is missing. */
export function toolchainIn(binDir: string): Toolchain {
  const need = (name: string): string => {
    const p = join(binDir, name);
    if (!existsSync(p)) throw new Error(`toolchain: ${p} is missing; run test/controlplane/build.sh`);
    return p;
  };
  const stagesRoot = join(binDir, '..', 'kwok-stages');
  const kwokStages = ['node/fast', 'node/heartbeat-with-lease', 'pod/fast'].flatMap((s) => {
    const d = join(stagesRoot, s);
    if (!existsSync(d)) throw new Error(`toolchain: kwok stage folder ${d} is missing; run test/controlplane/build.sh`);
    return readdirSync(d).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(d, f));
  });
  return {
    binDir,
    kubectl: need('kubectl'),
    helm: need('helm'),
    etcd: need('etcd'),
    kwok: need('kwok'),
    kubeApiserver: need('kube-apiserver'),
    kubeControllerManager: need('kube-controller-manager'),
    kubeScheduler: need('kube-scheduler'),
    kwokStages,
    versions: toolVersions(),
  };
}
