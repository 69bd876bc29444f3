// `kube-latch demo`: the newcomer's first run. A local control plane, a local git remote holding a sample
// app, the webhook and the watcher as child processes, and one walk through the story of DESIGN §1:
// GitOps declares 20, an autoscaler moves to 17 and git's re-apply keeps it, the autoscaler moves to 45
// and the watcher commits 50, and git's re-apply keeps 45. Every step checks what it claims; the first
// check that fails stops the demo with a non-zero exit (after cleaning up).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { down, toolchainIn, toolVersions, up } from '../devcluster/index.ts';
import { lastWords, poll } from './children.ts';
import { commits, createRemote, git, head, show } from './git.ts';
import { kubectlFor, warnings, type Kubectl } from './kubectl.ts';
import { DemoCheckFailed, Narrator } from './narrator.ts';
import { APPLY_PATH, DECLARED, DEMO_APP, DEMO_NAMESPACE, DEPLOYMENT_FILE, SAMPLE_APP } from './sample-app.ts';
import { startWatcherChild, type WatcherChild } from './watcher.ts';
import { registerWebhook, startWebhookChild, type WebhookChild } from './webhook.ts';

export interface DemoOptions {
  /** the dev cluster's folder: reused when a cluster runs there (default: a temp dir) */
  readonly dir?: string;
  /** leave the control plane (and the temp dir with the git remote) in place */
  readonly keep?: boolean;
  readonly write?: (s: string) => void;
}

/** The demo's short settle, said out loud in step 3. */
export const DEMO_SETTLE_UP = 5;
export const DEMO_BATCH_WINDOW = 1;
const WEBHOOK_CONFIG = 'kube-latch-demo';
const LEASE = 'kube-latch-watcher';
const HPA_FIRST = 17;
const HPA_SECOND = 45;
const EXPECTED_LATCH = 50;
const STEPS = 9;

const INTRO = `
GitOps declares replicas: ${DECLARED} for a Deployment; an autoscaler moves the live count. Left alone, every
GitOps sync resets the count to ${DECLARED} and fights the autoscaler. This demo shows kube-latch settling that
on a real (local) Kubernetes control plane: the webhook keeps the live count when git re-applies a value
nearby, and the watcher writes a new round number back to git when the live count has really moved.
`;

export async function runDemo(o: DemoOptions = {}): Promise<number> {
  const n = new Narrator(STEPS, o.write);
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'kube-latch-demo-'));
  const clusterDir = o.dir ? resolve(o.dir) : join(work, 'cluster');
  const logs = join(work, 'logs');
  let startedCluster = false;
  let binDir: string | undefined;
  let kubectl: Kubectl | undefined;
  let webhook: WebhookChild | undefined;
  let watcher: WatcherChild | undefined;
  let registered = false;

  const cleanup = async (failed: boolean): Promise<void> => {
    if (failed) n.raw('\nCleaning up after the failure:\n');
    else n.step('clean up');
    const done: string[] = [];
    if (watcher) {
      const ex = await watcher.stop('SIGTERM');
      done.push(ex.code === 0 ? 'stopped the watcher (it released its Lease)' : `stopped the watcher (exit ${ex.code ?? ex.signal})`);
    }
    if (webhook) {
      await webhook.stop('SIGTERM');
      done.push('stopped the webhook');
    }
    if (registered && kubectl) {
      await kubectl(['delete', 'mutatingwebhookconfiguration', WEBHOOK_CONFIG, '--ignore-not-found'], { allowFail: true });
      done.push(`removed the MutatingWebhookConfiguration ${WEBHOOK_CONFIG}`);
    }
    if (startedCluster && !o.keep) {
      await down({ dir: clusterDir, progress: () => {} }).catch(() => undefined);
      done.push('stopped the control plane');
    }
    // After a failure the child logs are worth reading; keep them when there are any.
    const keepLogs = failed && (webhook !== undefined || watcher !== undefined);
    if (!o.keep && !keepLogs) {
      rmSync(work, { recursive: true, force: true });
      done.push(`removed ${work}`);
    }
    n.say(done.length > 0 ? sentence(done) : 'Nothing to clean up.');
    if (o.keep) {
      n.say(`Kept, as --keep asked: the control plane in ${clusterDir} and the git remote in ${join(work, 'remote.git')}.`);
      n.say(`Try: export KUBECONFIG=${join(clusterDir, 'kubeconfig')} PATH=${binDir ?? '<dev-cluster bin>'}:$PATH`);
      n.say(`     kubectl get deployment ${DEMO_APP} -n ${DEMO_NAMESPACE}; git -C ${join(work, 'remote.git')} log --stat`);
      n.say(`Stop it with: kube-latch dev-cluster down --dir ${clusterDir}${o.dir ? '' : `; rm -rf ${work}`}`);
    } else if (failed && (webhook || watcher)) {
      n.say(`The logs of the webhook and the watcher are kept in ${logs} (remove ${work} when done).`);
    }
  };

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stopIfInterrupted = () => {
    if (interrupted) throw new DemoCheckFailed('the demo was interrupted');
  };

  n.title('kube-latch demo', INTRO);
  try {
    // ---- 1. control plane ----
    n.step('start a local Kubernetes control plane');
    if (!toolchainCached()) {
      n.say('The control plane is not built on this machine yet, so the demo builds it first from Go modules');
      n.say('(etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm).');
      n.say('This takes about 20 minutes the first time; later runs start in seconds.');
    }
    n.say(`Starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes) in ${clusterDir}.`);
    const t0 = Date.now();
    const cluster = await up({ dir: clusterDir, nodes: 3, progress: (l) => n.output(`· ${l.replace(/^dev-cluster: /, '')}`) });
    startedCluster = cluster.started;
    binDir = cluster.bin;
    kubectl = kubectlFor(cluster.bin, cluster.kubeconfig);
    n.say(
      cluster.started
        ? `The control plane answers at ${cluster.server} after ${secs(Date.now() - t0)}: Kubernetes ${toolVersions().kubernetes}, no containers, real API.`
        : `Reusing the control plane already running in ${clusterDir} at ${cluster.server}.`,
    );
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } }) });
    // A reused cluster may hold a previous run's app, webhook registration or Lease.
    await kubectl(['delete', 'deployment,service', DEMO_APP, '-n', DEMO_NAMESPACE, '--ignore-not-found', '--wait']);
    await kubectl(['delete', 'lease', LEASE, '-n', DEMO_NAMESPACE, '--ignore-not-found']);
    await kubectl(['delete', 'mutatingwebhookconfiguration', WEBHOOK_CONFIG, '--ignore-not-found']);
    stopIfInterrupted();

    // ---- 2. git remote ----
    n.step('create a git remote holding a sample app');
    const remote = await createRemote(join(work, 'remote.git'), SAMPLE_APP);
    n.say(`A bare repository at ${remote.dir} stands in for GitHub or GitLab. Its main branch holds:`);
    n.output([
      'clusters/demo/kustomization.yaml   what the cluster runs: apps/web in namespace demo',
      'apps/web/kustomization.yaml',
      `${DEPLOYMENT_FILE}           Deployment ${DEMO_APP}: replicas: ${DECLARED}, label kube-latch.io/enabled: "true"`,
      'apps/web/service.yaml',
    ]);

    // ---- 3. kube-latch ----
    n.step('start kube-latch: the webhook and the watcher');
    webhook = await startWebhookChild(join(work, 'certs'), { logFile: join(logs, 'webhook.log') });
    await registerWebhook(kubectl, WEBHOOK_CONFIG, webhook.url, webhook.caPem, DEMO_NAMESPACE);
    registered = true;
    n.say(`The webhook (kube-latch webhook) serves HTTPS on ${webhook.url.replace('https://', '').replace('/mutate', '')}. The apiserver now calls it`);
    n.say(`for every create and update of an opted-in workload (MutatingWebhookConfiguration ${WEBHOOK_CONFIG}, failurePolicy Ignore).`);
    watcher = await startWatcherChild(
      [
        '--kubeconfig', cluster.kubeconfig,
        '--repo', remote.url,
        '--work-dir', join(work, 'watcher'),
        '--lease-namespace', DEMO_NAMESPACE,
        '--lease-name', LEASE,
        '--settle-up', String(DEMO_SETTLE_UP),
        '--batch-window', String(DEMO_BATCH_WINDOW),
      ],
      { logFile: join(logs, 'watcher.log') },
    );
    await watcher.ready(60_000);
    await poll('the watcher to hold the Lease', () => watcher!.isLeader(), 30_000, 200);
    n.say(`The watcher (kube-latch watcher) has cloned the repo, watches opted-in workloads and holds the Lease ${DEMO_NAMESPACE}/${LEASE}.`);
    n.say(`For the demo it settles in ${DEMO_SETTLE_UP} s instead of the default 60 s (--settle-up ${DEMO_SETTLE_UP}), and batches for ${DEMO_BATCH_WINDOW} s instead of 10 s (--batch-window ${DEMO_BATCH_WINDOW}).`);
    stopIfInterrupted();

    // ---- 4. first GitOps apply ----
    n.step('GitOps applies the repo');
    const gitops = join(work, 'gitops');
    await git(work, ['clone', '-q', remote.dir, gitops]);
    const first = await gitopsApply(n, kubectl, gitops);
    let d = await deployment(kubectl);
    n.check(d.replicas === DECLARED, `${DEMO_APP} to run ${DECLARED} replicas after the first apply`, `it runs ${d.replicas}`);
    n.check(d.declared === String(DECLARED), `kube-latch.io/declared=${DECLARED}`, `it is ${d.declared ?? 'absent'}`);
    n.check(first.length === 0, 'no warning on the first apply', `kubectl printed ${first.join(' ')}`);
    n.say(`${DEMO_APP} runs ${DECLARED} replicas, as git declares. The webhook noted the declared value on it: kube-latch.io/declared=${DECLARED}.`);

    // ---- 5. autoscaler: 17 ----
    n.step(`an autoscaler scales ${DEMO_APP} to ${HPA_FIRST}`);
    await scale(n, kubectl, HPA_FIRST);
    n.say('This goes through the /scale subresource, as the HorizontalPodAutoscaler does. The webhook never intercepts it.');
    d = await deployment(kubectl);
    n.check(d.replicas === HPA_FIRST, `${DEMO_APP} to run ${HPA_FIRST} replicas`, `it runs ${d.replicas}`);
    n.say(`${DEMO_APP} runs ${HPA_FIRST} replicas.`);

    // ---- 6. GitOps re-applies 20 ----
    n.step(`GitOps re-applies the repo, which still says ${DECLARED}`);
    n.say(`Without kube-latch this apply would reset ${DEMO_APP} to ${DECLARED}, and the autoscaler would scale it back: a fight on every sync.`);
    const second = await gitopsApply(n, kubectl, gitops);
    d = await deployment(kubectl);
    n.check(d.replicas === HPA_FIRST, `replicas to stay ${HPA_FIRST} after the re-apply`, `they are ${d.replicas}`);
    n.check(second.some((w) => w.includes(`kept replicas ${HPA_FIRST} (declared ${DECLARED}, band 10-40)`)), `the warning "kept replicas ${HPA_FIRST} (declared ${DECLARED}, band 10-40)"`, `kubectl printed ${second.join(' ') || 'no warning'}`);
    n.say(`${DEMO_APP} still runs ${HPA_FIRST} replicas: ${HPA_FIRST} lies in the band 10-40 around the declared ${DECLARED} (tolerance 2), so the webhook kept it.`);
    const quiet = DEMO_SETTLE_UP + DEMO_BATCH_WINDOW + 2;
    n.say(`Waiting ${quiet} s, longer than the watcher's settle time and batch window ...`);
    const seedHead = await head(remote);
    await sleepUnlessInterrupted(quiet * 1000, () => interrupted);
    stopIfInterrupted();
    const afterQuiet = await head(remote);
    n.check(afterQuiet === seedHead, 'no commit while the live count stays in the band', `the remote moved to ${afterQuiet.slice(0, 7)}`);
    n.say(`... and git is unchanged: ${HPA_FIRST} is close enough to ${DECLARED}. No commit for a move inside the band.`);

    // ---- 7. autoscaler: 45, the latch ----
    n.step(`the autoscaler scales ${DEMO_APP} to ${HPA_SECOND}, out of the band 10-40`);
    const scaledAt = await scale(n, kubectl, HPA_SECOND);
    n.say(`The watcher sees ${HPA_SECOND} leave the band, waits ${DEMO_SETTLE_UP} s to be sure it is no blip, and writes the round number`);
    n.say(`nearest ${HPA_SECOND} on the 1-2-5 ladder, ${EXPECTED_LATCH}, to git ...`);
    const latchHead = await poll('the watcher to push its commit', async () => {
      stopIfInterrupted();
      const h = await head(remote);
      return h !== seedHead ? h : undefined;
    }, 60_000, 100).catch((e: Error) => {
      throw new DemoCheckFailed(`${e.message}; the watcher said: ${lastWords(watcher!)}`);
    });
    const latency = Date.now() - scaledAt;
    const [latest] = await commits(remote, 1);
    const title = `kube-latch: ${DEMO_NAMESPACE}/Deployment/${DEMO_APP} replicas ${DECLARED} → ${EXPECTED_LATCH}`;
    n.check(latest?.sha === latchHead && latest.subject === title, `the commit "${title}"`, `the remote's last commit is "${latest?.subject}"`);
    n.say(`The commit reached the remote ${secs(latency)} after the scale:`);
    n.command('git log -1 --stat');
    n.output(await git(remote.dir, ['log', '-1', '--stat', remote.branch]));
    const diff = changedLines(await git(remote.dir, ['show', '--format=', '-U0', remote.branch]));
    n.command('git show --format= -U0   # the diff, without context');
    n.output(diff);
    n.check(
      diff.length === 2 && /^-\s+replicas: 20\b/.test(diff[0]!) && /^\+\s+replicas: 50\b/.test(diff[1]!) && diff[0]!.slice(1).replace('20', '50') === diff[1]!.slice(1),
      'a one-line diff from replicas: 20 to replicas: 50, comment kept',
      `the diff is ${JSON.stringify(diff)}`,
    );
    n.say('One line changed, and only the number: the comment, indentation and every other byte of the file are as they were.');

    // ---- 8. GitOps re-applies 50 ----
    n.step(`GitOps re-applies the repo, which now says ${EXPECTED_LATCH}`);
    const third = await gitopsApply(n, kubectl, gitops);
    d = await deployment(kubectl);
    n.check(d.replicas === HPA_SECOND, `replicas to stay ${HPA_SECOND}`, `they are ${d.replicas}`);
    n.check(d.declared === String(EXPECTED_LATCH), `kube-latch.io/declared=${EXPECTED_LATCH}`, `it is ${d.declared ?? 'absent'}`);
    n.check(third.some((w) => w.includes(`kept replicas ${HPA_SECOND} (declared ${EXPECTED_LATCH}, band 25-100)`)), `the warning "kept replicas ${HPA_SECOND} (declared ${EXPECTED_LATCH}, band 25-100)"`, `kubectl printed ${third.join(' ') || 'no warning'}`);
    const all = await commits(remote);
    n.check(all.length === 2, 'two commits on the remote: the seed and the one latch', `it holds ${all.length}`);
    n.check((await show(remote, DEPLOYMENT_FILE)).includes(`replicas: ${EXPECTED_LATCH}`), `git to declare ${EXPECTED_LATCH}`, 'it does not');
    n.say(`${DEMO_APP} still runs ${HPA_SECOND} replicas (${HPA_SECOND} lies in the band 25-100 of ${EXPECTED_LATCH}), and git now says ${EXPECTED_LATCH}:`);
    n.say('a cluster rebuilt from git would come back at a scale that can cope.');

    await cleanup(false);
    n.raw(
      `\nDone in ${secs(Date.now() - started)}. The autoscaler moved ${DEMO_APP} twice; the move inside the band cost nothing, and the real\n` +
        `change of magnitude became exactly one commit. Read docs/demo.md for what each step showed.\n`,
    );
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    n.raw(`\nThe demo stopped: ${msg}\n`);
    await cleanup(true).catch((err: Error) => n.raw(`cleanup failed: ${err.message}\n`));
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Pulls the GitOps clone and applies clusters/demo the way Flux's kustomize-controller does; returns the warnings. */
async function gitopsApply(n: Narrator, kubectl: Kubectl, clone: string): Promise<string[]> {
  await git(clone, ['pull', '-q', '--ff-only']);
  const [sha, subject] = (await git(clone, ['log', '-1', '--format=%h%x1f%s'])).trim().split('\x1f');
  n.say(`GitOps applies commit ${sha} ("${subject}"), as Flux's kustomize-controller would, with server-side apply:`);
  n.command(`kubectl apply --server-side --field-manager=kustomize-controller --force-conflicts -k ${APPLY_PATH}`);
  const r = await kubectl(['apply', '--server-side', '--field-manager=kustomize-controller', '--force-conflicts', '-k', join(clone, APPLY_PATH)]);
  const w = warnings(r);
  n.output([...w, ...r.stdout.trim().split('\n').filter((l) => l !== '')]);
  return w;
}

/** kubectl scale (the /scale subresource); returns when it returned. */
async function scale(n: Narrator, kubectl: Kubectl, replicas: number): Promise<number> {
  n.command(`kubectl scale deployment/${DEMO_APP} --replicas=${replicas} -n ${DEMO_NAMESPACE}`);
  const r = await kubectl(['scale', `deployment/${DEMO_APP}`, `--replicas=${replicas}`, '-n', DEMO_NAMESPACE]);
  const at = Date.now();
  n.output(r.stdout);
  return at;
}

async function deployment(kubectl: Kubectl): Promise<{ replicas: number | undefined; declared: string | undefined }> {
  const obj = JSON.parse((await kubectl(['get', 'deployment', DEMO_APP, '-n', DEMO_NAMESPACE, '-o', 'json'])).stdout);
  return { replicas: obj?.spec?.replicas, declared: obj?.metadata?.annotations?.['kube-latch.io/declared'] };
}

/** The +/- lines of a unified diff, without the ---/+++ headers. */
export function changedLines(diff: string): string[] {
  return diff.split('\n').filter((l) => (l.startsWith('-') || l.startsWith('+')) && !l.startsWith('---') && !l.startsWith('+++'));
}

/** Whether build.sh's cache already holds the control plane (so `up` starts in seconds). */
function toolchainCached(): boolean {
  const root = process.env['KUBE_LATCH_CACHE'] || join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'kube-latch');
  const bin = join(root, `k8s-${toolVersions().kubernetes}`, 'bin');
  if (!existsSync(bin)) return false;
  try {
    toolchainIn(bin);
    return true;
  } catch {
    return false;
  }
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function sentence(parts: string[]): string {
  const s = parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return s.charAt(0).toUpperCase() + s.slice(1) + '.';
}

async function sleepUnlessInterrupted(ms: number, interrupted: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !interrupted()) await new Promise((r) => setTimeout(r, Math.min(200, end - Date.now())));
}

