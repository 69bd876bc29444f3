// `kube-latch dev-cluster up|down`: a local control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok fake nodes) for trying kube-latch, or any webhook, without a cluster.
// stdout carries exactly one JSON line for `up`; progress goes to stderr.
import { down, up } from '../devcluster/index.ts';
import { EXTRA_NAMES, parseExtras } from '../devcluster/tools/extras.ts';
import { helpText, int, parseFlags, requireStr, UsageError, type FlagSpec } from './flags.ts';

const upFlags: FlagSpec[] = [
  { name: 'dir', type: 'string', arg: 'DIR', help: 'folder for state, kubeconfig, etcd data and logs (created if missing)' },
  { name: 'nodes', type: 'string', arg: 'N', help: 'fake kwok nodes to create', default: '3' },
  { name: 'with', type: 'string', arg: 'LIST', help: `extras to start, comma-separated: ${EXTRA_NAMES.join(', ')} (built from Go modules on first use)` },
];
const downFlags: FlagSpec[] = [{ name: 'dir', type: 'string', arg: 'DIR', help: 'the folder given to `up`' }];

const USAGE = 'kube-latch dev-cluster up --dir DIR [--nodes N] [--with metrics,flux,helm-controller,argocd] | kube-latch dev-cluster down --dir DIR';

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === '--help' || action === '-h' || action === 'help') {
    process.stdout.write(
      helpText('kube-latch dev-cluster up --dir DIR [--nodes N] [--with metrics,flux,helm-controller,argocd]', 'Starts a local control plane, or returns the one already running in DIR. Prints {"kubeconfig","bin","server"} as one JSON line.', upFlags) +
        '\n' +
        helpText('kube-latch dev-cluster down --dir DIR', 'Stops every process that `up` started in DIR and removes its state (logs stay).', downFlags),
    );
    return 0;
  }
  if (action === 'up') {
    const f = parseFlags(upFlags, rest);
    if (f['help']) return help('up', upFlags);
    const dir = requireStr(f, 'dir');
    const nodes = int(f, 'nodes', { min: 0, max: 100 }) ?? 3;
    let extras;
    try {
      extras = parseExtras(typeof f['with'] === 'string' ? f['with'] : '');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const cluster = await up({ dir, nodes, with: extras });
    // The base line is exactly {kubeconfig, bin, server}; extras add their endpoints.
    const endpoints = Object.keys(cluster.endpoints).length > 0 ? { endpoints: cluster.endpoints } : {};
    process.stdout.write(JSON.stringify({ kubeconfig: cluster.kubeconfig, bin: cluster.bin, server: cluster.server, ...endpoints }) + '\n');
    return 0;
  }
  if (action === 'down') {
    const f = parseFlags(downFlags, rest);
    if (f['help']) return help('down', downFlags);
    await down({ dir: requireStr(f, 'dir') });
    return 0;
  }
  throw new UsageError(action === undefined ? `expected up or down (usage: ${USAGE})` : `unknown action "${action}": expected up or down`);
}

function help(action: 'up' | 'down', specs: FlagSpec[]): number {
  const usage = action === 'up' ? 'kube-latch dev-cluster up --dir DIR [--nodes N] [--with metrics,flux,helm-controller,argocd]' : 'kube-latch dev-cluster down --dir DIR';
  const summary = action === 'up' ? 'Starts a local control plane in DIR (or returns the running one).' : 'Stops the control plane running in DIR.';
  process.stdout.write(helpText(usage, summary, specs));
  return 0;
}
