// What the latcher needs from git, and its implementation over src/git's GitRepo. Writes go through
// src/git's flows (commitAndPush in push mode; proposeChanges on the cluster branch in pr mode, and on
// a branch of its own for a revert), so locating, surgical edits, races, leadership checks before each
// push, auth and signing are the replicas path's. Reads of history are local, read-only git commands
// on the clone's object store (`git log`, `git show` of the fetched tracked branch): no network, and
// nothing that touches the work tree GitRepo owns.
import type { FieldChange } from '../git/changes.ts';
import { GitError, runGit } from '../git/exec.ts';
import { clusterBranch, proposeChanges, type PullRequests } from '../git/pr/index.ts';
import type { GitRepo } from '../git/repo.ts';
import type { DocumentLocation, WorkloadRef } from '../git/types.ts';

export type RolloutWriteResult =
  | {
      readonly ok: true;
      /** changes now on the remote branch (push mode) or in the cluster PR (pr mode) */
      readonly written: readonly FieldChange[];
      /** changes whose value the tracked branch already held */
      readonly already: readonly FieldChange[];
      /** commit id (push) or PR URL (pr); absent when nothing was pushed */
      readonly revision?: string;
    }
  | { readonly ok: false; readonly notLeader: true }
  | { readonly ok: false; readonly notLeader?: false; readonly error: string };

export type ProposeResult =
  | { readonly ok: true; readonly status: 'pushed' | 'up-to-date' | 'unchanged'; readonly url?: string }
  | { readonly ok: false; readonly notLeader: true }
  | { readonly ok: false; readonly notLeader?: false; readonly error: string };

export interface RolloutGit {
  readonly mode: 'push' | 'pr';
  /** the cluster name (pr mode), for branch names and PR bodies */
  readonly cluster: string;
  /** fetch and reindex; rejects when the remote is unreachable */
  sync(): Promise<void>;
  /** the workload's own document, from the index (no I/O) */
  locate(ref: WorkloadRef): DocumentLocation;
  /** the file at the tip of the tracked branch as last fetched (`tip`), or at a commit; undefined when absent */
  show(rev: 'tip' | string, file: string): Promise<string | undefined>;
  /** commits of the tracked branch that changed `file`, newest first, at most `max` */
  log(file: string, max: number): Promise<string[]>;
  /** one commit (push) or one cluster-PR update (pr) holding the changes; never rejects */
  write(changes: readonly FieldChange[], mayPush: () => boolean): Promise<RolloutWriteResult>;
  /** a separate PR on its own branch (pr mode only); never rejects */
  propose(changes: readonly FieldChange[], o: { branch: string; title: string; body: string; mayPush: () => boolean }): Promise<ProposeResult>;
}

export type RolloutGitMode = { readonly mode: 'push' } | { readonly mode: 'pr'; readonly pullRequests: PullRequests; readonly cluster: string };

/** The latcher's git over the watcher's GitRepo (`openGitState(...).repo`). */
export function rolloutGit(repo: GitRepo, m: RolloutGitMode): RolloutGit {
  const tracked = `refs/remotes/origin/${repo.branch}`;
  const read = (args: string[]) =>
    runGit(args, { cwd: repo.workTree, env: localEnv(), scrub: (s) => s, timeoutMs: 60_000 });
  const fail = (err: unknown) => ({ ok: false as const, error: err instanceof GitError ? err.message : `git write failed: ${(err as Error).message.split('\n')[0]}` });

  return {
    mode: m.mode,
    cluster: m.mode === 'pr' ? m.cluster : '',
    async sync() {
      await repo.sync();
    },
    locate(ref) {
      return repo.index.locateDocument(ref);
    },
    async show(rev, file) {
      const at = rev === 'tip' ? tracked : rev;
      const r = await read(['cat-file', 'blob', `${at}:${file}`]);
      if (r.code === 0) return r.stdout;
      // git words a missing path and a missing revision alike; only a revision that exists means "no such file".
      const v = await read(['rev-parse', '-q', '--verify', `${at}^{commit}`]);
      if (v.code === 0) return undefined;
      throw new GitError('git', `git show ${at}:${file}: no such revision`);
    },
    async log(file, max) {
      const r = await read(['log', '--format=%H', `--max-count=${max}`, tracked, '--', file]);
      if (r.code !== 0) throw new GitError('git', `git log ${file}: ${r.stderr.split('\n')[0] ?? ''}`);
      return r.stdout.split('\n').filter((l) => /^[0-9a-f]{40,64}$/.test(l));
    },
    async write(changes, mayPush) {
      try {
        if (m.mode === 'push') {
          const r = await repo.commitAndPush(changes, { mayPush });
          if (r.status === 'not-leader') return { ok: false, notLeader: true };
          return { ok: true, ...split(changes, r.outcomes), ...(r.commit && r.status === 'pushed' ? { revision: r.commit } : {}) };
        }
        const r = await proposeChanges(repo, m.pullRequests, changes, { branch: clusterBranch(m.cluster), cluster: m.cluster, mayPush });
        if (r.status === 'not-leader') return { ok: false, notLeader: true };
        return { ok: true, ...split(changes, r.outcomes), ...(r.pr ? { revision: r.pr.url } : {}) };
      } catch (err) {
        return fail(err);
      }
    },
    async propose(changes, o) {
      if (m.mode !== 'pr') return { ok: false, error: 'a revert PR needs --mode pr' };
      try {
        const r = await proposeChanges(repo, m.pullRequests, changes, {
          branch: o.branch,
          carryOver: false,
          title: o.title,
          body: o.body,
          cluster: m.cluster,
          mayPush: o.mayPush,
        });
        if (r.status === 'not-leader') return { ok: false, notLeader: true };
        return { ok: true, status: r.status, ...(r.pr ? { url: r.pr.url } : {}) };
      } catch (err) {
        return fail(err);
      }
    },
  };
}

function split(changes: readonly FieldChange[], outcomes: readonly { change: unknown; status: string }[]) {
  const pick = (status: string) => changes.filter((c) => outcomes.some((o) => o.change === c && o.status === status));
  // 'proposed': the open PR already holds it, as good as git for the latcher (nothing new to write)
  return { written: pick('written'), already: changes.filter((c) => outcomes.some((o) => o.change === c && (o.status === 'already' || o.status === 'proposed'))) };
}

/** Local, read-only git: no system or user config, no prompts, C locale. */
function localEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' };
}
