// kubectl from the dev-cluster toolchain, bound to one kubeconfig, run without a shell.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type Kubectl = (args: readonly string[], o?: { input?: string; allowFail?: boolean; timeoutMs?: number }) => Promise<Result>;

export function kubectlFor(binDir: string, kubeconfig: string): Kubectl {
  const bin = join(binDir, 'kubectl');
  return (args, o = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(bin, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const r = { code: code ?? 128, stdout, stderr };
        if (r.code !== 0 && !o.allowFail) reject(new Error(`kubectl ${args.join(' ')} exited ${code ?? signal}: ${(stderr.trim() || stdout.trim()).split('\n').pop()}`));
        else resolve(r);
      });
      child.stdin.end(o.input ?? '');
    });
}

/** The `Warning: …` lines kubectl prints for the apiserver's (and so the webhook's) warnings. */
export function warnings(r: Pick<Result, 'stderr'>): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('Warning:')).map((l) => l.trim());
}
