// `kube-latch status` (also `kubectl latch status`): the operator's view of every opted-in workload, in
// the spirit of `flux get kustomizations`. It reads the cluster and git exactly as `kube-latch diff` does
// (same flags, same loaders, same rows) and adds when the next latch falls due, latches waiting in a PR,
// and when the watcher last latched each workload. Exit codes are diff's: 0 all in band, 1 otherwise, 2
// for a usage error or a repo or cluster that cannot be read.
import { DEFAULT_SETTLE_DOWN, DEFAULT_SETTLE_UP } from '../latch/index.ts';
import { diffFlags, kubeConfigFromFlags, parseDefaults, repoError, repoSourceFromFlags } from './diff.ts';
import { bool, helpText, list, parseFlags, requireStr, seconds, str, UsageError, type FlagSpec } from './flags.ts';
import { firstLine, type KubeConfig } from '../kube/client.ts';

const OUTPUTS = ['table', 'json', 'yaml'] as const;

export const statusFlags: FlagSpec[] = [
  ...diffFlags.filter((f) => f.name !== 'json' && f.name !== 'workload-namespace'),
  { name: 'workload-namespace', type: 'string', arg: 'NS', help: "only workloads in this namespace; also -n/--namespace (default: the kubeconfig context's namespace if it names one, else all)" },
  { name: 'all-namespaces', type: 'boolean', help: 'workloads in every namespace; also -A' },
  { name: 'state', type: 'string', multiple: true, arg: 'S', help: 'only rows in this state: in-band, latch-due, pending-pr, out-of-band, unlocated, ambiguous, invalid-policy' },
  { name: 'output', type: 'string', arg: 'FORMAT', help: 'table, json or yaml; also -o', default: 'table' },
  { name: 'settle', type: 'string', arg: 'SECONDS', help: "the watcher's --settle: sets both --settle-up and --settle-down" },
  { name: 'settle-up', type: 'string', arg: 'SECONDS', help: `the watcher's --settle-up, for "latch due in N s" (default ${DEFAULT_SETTLE_UP})` },
  { name: 'settle-down', type: 'string', arg: 'SECONDS', help: `the watcher's --settle-down (default ${DEFAULT_SETTLE_DOWN})` },
];

/** Commits of history a cloned repo is read with, for LAST LATCH. */
const HISTORY_DEPTH = 500;

const SUMMARY = `One row per workload labelled kube-latch.io/enabled=true: live and git's replicas, the band, the
state, where git declares it and when the watcher last latched it. The rows are kube-latch diff's
(same policy, location and band rules); STATE is one of:

  in band              live lies in band(git).
  latch due in N s     live is out of band; the watcher writes a new latch point once it has stayed there
                       for its settle time. N counts from the last write of spec.replicas (managedFields
                       times, and the HPA's lastScaleTime), so it assumes the watcher has been watching
                       since; "now" when the time has passed. With no such time (kubectl scale leaves
                       none) it counts from now: the whole settle time, as a restarted watcher does.
  pending PR (L)       the watcher latched L (kube-latch.io/latched) and the git read here does not declare
                       it yet: a pull request awaits review, or the checkout is behind the remote.
  out of band (held)   out of band, but the bounds keep any latch from moving git.
  unlocated            nothing in git declares its replicas.
  ambiguous location   several places do (listed).
  invalid policy       a kube-latch.io annotation is invalid; the webhook and watcher leave it alone.

LAST LATCH is the date of the newest "kube-latch: …" commit naming the workload in the history read
(a local checkout's whole history; a URL is cloned ${HISTORY_DEPTH} commits deep).
Short flags as kubectl: -n NS, -A, -o json|yaml. As a kubectl plugin: install the binary (or a symlink to
it) as kubectl-latch on PATH and run 'kubectl latch status'.
Exit status: 0 when every row shown is in band (or there are none); 1 otherwise; 2 for a usage error, or
when the repo or the cluster cannot be read. Colour only when stdout is a terminal and NO_COLOR is unset.`;

/** kubectl's short flags, spelled as this CLI's long ones. */
export function expandShortFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^-(n|o)(?:=?(.+))?$/.exec(a) ?? /^--(namespace)(?:=(.+))?$/.exec(a);
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '-A') out.push('--all-namespaces');
    else if (m) {
      const long = m[1] === 'o' ? '--output' : '--workload-namespace';
      if (m[2] !== undefined) out.push(`${long}=${m[2]}`);
      else out.push(long);
    } else out.push(a);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(statusFlags, expandShortFlags(argv));
  if (f['help']) {
    process.stdout.write(helpText('kube-latch status --repo PATH|URL [-n NS | -A] [--state S…] [-o table|json|yaml] [flags]', SUMMARY, statusFlags));
    return 0;
  }
  const repo = requireStr(f, 'repo');
  const defaults = parseDefaults(f);
  const output = str(f, 'output') ?? 'table';
  if (!(OUTPUTS as readonly string[]).includes(output)) throw new UsageError(`-o/--output must be one of ${OUTPUTS.join(', ')}, got "${output}"`);
  const states = list(f, 'state');
  const { STATUS_STATES } = await import('../status/rows.ts');
  for (const s of states) if (!(STATUS_STATES as readonly string[]).includes(s)) throw new UsageError(`--state must be one of ${STATUS_STATES.join(', ')}, got "${s}"`);
  const all = bool(f, 'all-namespaces');
  const nsFlag = str(f, 'workload-namespace');
  if (all && nsFlag !== undefined) throw new UsageError('-n/--namespace and -A/--all-namespaces exclude each other');
  if (nsFlag !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(nsFlag)) throw new UsageError(`--namespace "${nsFlag}" is not a namespace name`);
  const settle = seconds(f, 'settle');
  const settleUp = seconds(f, 'settle-up') ?? settle ?? DEFAULT_SETTLE_UP;
  const settleDown = seconds(f, 'settle-down') ?? settle ?? DEFAULT_SETTLE_DOWN;

  const kc = kubeConfigFromFlags(f);
  const namespace = all ? undefined : (nsFlag ?? contextNamespace(kc));

  const { openRepoSource, readCluster, git } = await import('../diff/index.ts');
  const { statusRows } = await import('../status/rows.ts');
  const { replicasWrittenAt, hpaScaledAt, lastLatches, parseGitLog } = await import('../status/history.ts');
  const { renderTable, renderJson, renderYaml, statusDocument } = await import('../status/render.ts');
  const { refKey } = await import('../watcher/types.ts');

  let source;
  try {
    source = await openRepoSource({ ...repoSourceFromFlags(f, repo), depth: HISTORY_DEPTH });
  } catch (e) {
    return trouble(repoError(e, repo));
  }
  try {
    const replicasSince = new Map<string, number>();
    const newest = (key: string, t: number) => replicasSince.set(key, Math.max(t, replicasSince.get(key) ?? -Infinity));
    let view;
    try {
      view = await readCluster(kc, {
        namespace,
        extraKinds: list(f, 'workload-kind'),
        visit: (w, obj) => {
          const t = replicasWrittenAt(obj.metadata?.managedFields);
          if (t !== undefined) newest(refKey(w.ref), t);
        },
        visitHpa: (obj) => {
          const s = hpaScaledAt(obj as never);
          if (s) newest(s.key, s.t);
        },
      });
    } catch (e) {
      return trouble(`cluster ${kc.getCurrentCluster()?.server ?? ''}: ${firstLine(e)}`);
    }
    const log = await git(source.index.workTree, ['-c', 'safe.directory=*', 'log', '-z', '--format=%cI%n%B', '-n', '5000', '--grep=^kube-latch: ']);
    const idx = source.index;
    const rows = statusRows({
      workloads: view.workloads,
      hpas: view.hpas,
      locate: (ref) => idx.locate(ref),
      defaults,
      now: Date.now(),
      settle: { settleUp: Math.round(settleUp * 1000), settleDown: Math.round(settleDown * 1000) }, // ms, as the watcher's
      replicasSince,
      lastLatch: lastLatches(parseGitLog(log ?? '')),
    }).filter((r) => states.length === 0 || states.includes(r.state));
    const notes = [...view.notes, ...idx.brokenFiles.map((b) => `${b.file} does not parse: ${b.error}`)];
    const doc = statusDocument(rows, notes);
    if (output === 'json') process.stdout.write(renderJson(doc));
    else if (output === 'yaml') process.stdout.write(renderYaml(doc));
    else process.stdout.write(renderTable(rows, { color: useColor(), notes }));
    return doc.exitCode;
  } finally {
    await source.close();
  }
}

/** kubectl's default namespace: the current context's, when it names one. Unlike kubectl, no "default" fallback: all namespaces. */
function contextNamespace(kc: KubeConfig): string | undefined {
  const ns = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return ns ? ns : undefined;
}

function useColor(): boolean {
  return process.stdout.isTTY === true && (process.env['NO_COLOR'] ?? '') === '';
}

function trouble(msg: string): number {
  process.stderr.write(`kube-latch status: ${msg}\n`);
  return 2;
}
