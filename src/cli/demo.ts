// `kube-latch demo` (and `npm run demo`): one latch, end to end, on a local control plane. The story and
// its checks live in src/demo/run.ts; this file only parses the flags.
import { bool, helpText, parseFlags, str, UsageError, type FlagSpec } from './flags.ts';

export const demoFlags: FlagSpec[] = [
  { name: 'dir', type: 'string', arg: 'DIR', help: 'dev-cluster folder: reuses the cluster running there, or starts one in it (default: a temp dir)' },
  { name: 'keep', type: 'boolean', help: 'leave the control plane running and keep the git remote, to look around afterwards' },
];

const SUMMARY = `Starts a local Kubernetes control plane (kube-latch dev-cluster), a local git remote holding a sample
app, and kube-latch's webhook and watcher, then walks through one latch in plain sentences: GitOps
declares 20, an autoscaler scales to 17 and git's re-apply keeps 17, the autoscaler scales to 45 and the
watcher commits 50, and git's re-apply keeps 45. Cleans up at the end (unless --keep).
Exit status: 0 when every step did what it says, 1 when one did not, 2 for a usage error.
The first run on a machine builds the control plane from Go modules (about 20 minutes).`;

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(demoFlags, argv);
  if (f['help']) {
    process.stdout.write(helpText('kube-latch demo [--dir DIR] [--keep]', SUMMARY, demoFlags));
    return 0;
  }
  const dir = str(f, 'dir');
  if (dir !== undefined && dir.trim() === '') throw new UsageError('--dir must not be empty');
  const { runDemo } = await import('../demo/run.ts');
  return runDemo({ ...(dir !== undefined ? { dir } : {}), keep: bool(f, 'keep') });
}
