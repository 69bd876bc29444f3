// `kube-latch diff`: the latching-aware successor of kubediff. For every opted-in workload: where git
// declares it, declared and live values, the band, and a state. Exit 0 when all are in band, 1 when any
// is not (or cannot be located), 2 for usage errors and for trouble reaching the repo or the cluster
// (like diff(1) and `kubectl diff`, so that CI never mistakes a broken run for drift).
import { GitError } from '../git/exec.ts';
import type { RepoSourceOptions } from '../diff/index.ts';
import { firstLine, KubeConfigError, loadKubeConfig, type KubeConfig } from '../kube/client.ts';
import { PolicyError, policyFromFlags, type PolicyDefaults } from '../latch/index.ts';
import { bool, helpText, int, list, MAX_BOUND, parseFlags, requireStr, str, UsageError, type FlagSpec, type FlagValues } from './flags.ts';

export const diffFlags: FlagSpec[] = [
  { name: 'repo', type: 'string', arg: 'PATH|URL', help: 'git repository: a local directory (read as it is, uncommitted edits included) or a URL (shallow-cloned into a temp dir)' },
  { name: 'path', type: 'string', multiple: true, arg: 'DIR', help: 'repo-relative directory or file to search for manifests (default: the whole tree)' },
  { name: 'branch', type: 'string', arg: 'B', help: "branch to clone (default: the remote's default branch; with a local PATH: clone that branch instead of reading the work tree)" },
  { name: 'kubeconfig', type: 'string', arg: 'FILE', help: 'kubeconfig file (default, as kubectl: $KUBECONFIG, a list merged like kubectl; else ~/.kube/config; else in-cluster)' },
  { name: 'context', type: 'string', arg: 'NAME', help: 'kubeconfig context to use (default: its current-context)' },
  // Not --namespace: the chart sets KUBE_LATCH_NAMESPACE (the pod's own namespace) in the watcher's container,
  // and diff run there must still see every namespace.
  { name: 'workload-namespace', type: 'string', arg: 'NS', help: 'only workloads in this namespace (default: all namespaces)' },
  { name: 'json', type: 'boolean', help: 'print one JSON document (fields in docs/troubleshooting.md) instead of the table' },
  { name: 'ladder', type: 'string', arg: 'LADDER', help: "default ladder, as the watcher's --ladder: 1-2-5, sig1, decade, step:N, exact", default: '1-2-5' },
  { name: 'tolerance', type: 'string', arg: 'R', help: "default band ratio r ≥ 1, as the watcher's --tolerance", default: '2' },
  { name: 'min-replicas', type: 'string', arg: 'N', help: 'default lower bound (default 0)' },
  { name: 'max-replicas', type: 'string', arg: 'N', help: 'default upper bound (default unbounded)' },
  { name: 'workload-kind', type: 'string', multiple: true, arg: 'G/V/Kind', help: 'extra workload kind with a scale subresource, e.g. apps.example.com/v1/Widget' },
  { name: 'ssh-key', type: 'string', arg: 'FILE', help: 'private key for an ssh:// or user@host:path repo' },
  { name: 'known-hosts', type: 'string', arg: 'FILE', help: 'known_hosts for the ssh repo (checked strictly)' },
  { name: 'token-file', type: 'string', arg: 'FILE', help: 'file holding an HTTPS token (never printed)' },
];

const SUMMARY = `Compares the replicas that git declares with the live replicas of every workload labelled
kube-latch.io/enabled=true, under each workload's latch policy (annotations, else the defaults below;
an HPA's min/max when the workload has no bound annotation). One row per workload; its STATE is:

  in-band         live lies in band(declared). Never drift, whatever the difference.
  latch-due N     live lies outside the band and the watcher would write N to git: latch(live) when live
                  is above the band (after --settle-up). Below the band the watcher latches the peak of the
                  last --settle-down, which diff cannot see: N = latch(live) is the lowest it would write.
  out-of-band     live lies outside the band, but no latch can move git: min/max-replicas (or the HPA's
                  bounds) clamp latch(live) to the declared value, or downward to a value not below it.
  unlocated       no marker, kube-latch.io/source annotation or manifest declares its replicas.
  ambiguous       several places do; they are listed.
  invalid-policy  a kube-latch.io annotation is invalid, so the webhook and watcher leave it alone.

Files that do not parse are listed (file and first error) and never stop the run.
Exit status: 0 when every workload is in-band (or there are none); 1 when any is latch-due, out-of-band,
unlocated, ambiguous or invalid-policy; 2 for a usage error, or when the repo or the cluster cannot be read.
Colour only when stdout is a terminal and NO_COLOR is unset.`;

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(diffFlags, argv);
  if (f['help']) {
    process.stdout.write(helpText('kube-latch diff --repo PATH|URL [--path DIR…] [--branch B] [--kubeconfig FILE] [--context NAME] [--json] [flags]', SUMMARY, diffFlags));
    return 0;
  }
  const repo = requireStr(f, 'repo');
  const defaults = parseDefaults(f);
  const namespace = str(f, 'workload-namespace');
  if (namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) throw new UsageError(`--workload-namespace "${namespace}" is not a namespace name`);
  const json = bool(f, 'json');

  const kc = kubeConfigFromFlags(f);

  // Loaded only now, so that --help and flag errors stay fast.
  const { openRepoSource, readCluster, diffRows, renderTable, toJson, exitCodeFor } = await import('../diff/index.ts');
  let source;
  try {
    source = await openRepoSource(repoSourceFromFlags(f, repo));
  } catch (e) {
    return trouble(repoError(e, repo));
  }
  try {
    let view;
    try {
      view = await readCluster(kc, { namespace, extraKinds: list(f, 'workload-kind') });
    } catch (e) {
      return trouble(`cluster ${kc.getCurrentCluster()?.server ?? ''}: ${firstLine(e)}`);
    }
    const idx = source.index;
    const rows = diffRows({ workloads: view.workloads, hpas: view.hpas, locate: (ref) => idx.locate(ref), defaults });
    const report = { rows, brokenFiles: idx.brokenFiles, markerProblems: idx.markerProblems, notes: view.notes };
    const meta = { repo: source.repo, branch: source.branch, revision: source.revision, paths: source.paths, cluster: kc.getCurrentCluster()?.server ?? null };
    if (json) process.stdout.write(JSON.stringify(toJson(report, meta), null, 2) + '\n');
    else process.stdout.write(renderTable(report, meta, { color: useColor() }));
    return exitCodeFor(rows);
  } finally {
    await source.close();
  }
}

/** --kubeconfig and --context, loaded as kubectl loads them (shared with `kube-latch status`); a bad one is a usage error. */
export function kubeConfigFromFlags(f: FlagValues): KubeConfig {
  try {
    return loadKubeConfig({ file: str(f, 'kubeconfig'), context: str(f, 'context') });
  } catch (e) {
    if (e instanceof KubeConfigError) throw new UsageError(e.message);
    throw e;
  }
}

/** Where git is read from: --repo, --branch, --path and the auth flags (shared with `kube-latch status`). */
export function repoSourceFromFlags(f: FlagValues, repo: string): RepoSourceOptions {
  return {
    repo,
    branch: str(f, 'branch'),
    paths: list(f, 'path'),
    auth: { sshKey: str(f, 'ssh-key'), knownHosts: str(f, 'known-hosts'), tokenFile: str(f, 'token-file') },
  };
}

/** One line for a repository that could not be opened. */
export function repoError(e: unknown, repo: string): string {
  return e instanceof GitError ? e.message : `--repo ${repo}: ${oneLine(e)}`;
}

/** The default policy flags (shared with `kube-latch status`); a bad one is a usage error. */
export function parseDefaults(f: FlagValues): PolicyDefaults {
  const defaults: PolicyDefaults = { ladder: str(f, 'ladder'), tolerance: str(f, 'tolerance'), min: int(f, 'min-replicas', { max: MAX_BOUND }), max: int(f, 'max-replicas', { max: MAX_BOUND }) };
  try {
    policyFromFlags(defaults);
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(e.message);
    throw e;
  }
  return defaults;
}

function useColor(): boolean {
  return process.stdout.isTTY === true && (process.env['NO_COLOR'] ?? '') === '';
}

function trouble(msg: string): number {
  process.stderr.write(`kube-latch diff: ${msg}\n`);
  return 2;
}

function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.slice(0, 300);
}
