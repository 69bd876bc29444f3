// PR mode (DESIGN §4): one stable branch per cluster, `kube-latch/<cluster>`, force-updated with one
// commit on top of the tracked branch while it holds only kube-latch's commits (built on, never
// overwritten, once someone else pushed to it), and a single open PR/MR for it, created or updated
// (never a second one: the PR from this repository's branch into the tracked branch is looked up
// first). A PR closed without merging is a rejection: its latches are not proposed again.
// proposeChanges() with carryOver:false and its own branch opens a separate PR, e.g. the rollout
// feature's "revert failed rollout".
import type { ChangeOutcome, Change } from '../changes.ts';
import { pullRequestBody } from '../message.ts';
import type { GitRepo } from '../repo.ts';
import { redactUrl } from '../../redact.ts';
import { ApiError, type ApiOptions } from './http.ts';
import { GITHUB_API, GitHubPullRequests } from './github.ts';
import { GITLAB_API, GitLabMergeRequests } from './gitlab.ts';
import type { PullRequest, PullRequestSpec, PullRequests } from './types.ts';

export type { PullRequest, PullRequestSpec, PullRequests } from './types.ts';
export { ApiError } from './http.ts';
export { GitHubPullRequests } from './github.ts';
export { GitLabMergeRequests } from './gitlab.ts';

export interface ProviderOptions {
  readonly provider: 'github' | 'gitlab';
  /** default https://api.github.com or https://gitlab.com/api/v4 */
  readonly apiUrl?: string | undefined;
  readonly tokenFile: string;
  /** the git remote URL; owner/repo (GitHub) or the project path (GitLab) is taken from it */
  readonly repoUrl: string;
  readonly ca?: string | Buffer | undefined;
  readonly timeoutMs?: number | undefined;
}

export function createPullRequests(o: ProviderOptions): PullRequests {
  const api: ApiOptions = {
    apiUrl: o.apiUrl ?? (o.provider === 'github' ? GITHUB_API : GITLAB_API),
    tokenFile: o.tokenFile,
    ca: o.ca,
    timeoutMs: o.timeoutMs,
  };
  const slug = repoSlug(o.repoUrl);
  return o.provider === 'github' ? new GitHubPullRequests({ ...api, repo: slug }) : new GitLabMergeRequests({ ...api, project: slug });
}

/** `owner/repo` (or `group/sub/project`) from ssh://, scp-style or https:// git URLs, without `.git`. */
export function repoSlug(url: string): string {
  let path: string;
  const scp = /^(?:[^@/:]+@)?[^/:]+:(?!\/\/)(.*)$/.exec(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) path = new URL(url).pathname;
  else if (scp) path = scp[1]!;
  else path = url;
  const slug = path.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
  if (!slug.includes('/')) throw new Error(`cannot tell the repository (owner/name) from --repo ${redactUrl(url)}`);
  return slug;
}

/** `kube-latch/<cluster>`, with the cluster name reduced to characters a ref may hold. */
export function clusterBranch(cluster: string): string {
  const safe = cluster.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+|[.-]+$/g, '').replace(/\.{2,}/g, '.');
  if (safe === '' || safe.endsWith('.lock')) throw new Error(`--cluster-name "${cluster}" cannot name a branch`);
  return `kube-latch/${safe}`;
}

/**
 * The branch of a one-off PR for one workload, e.g. `kube-latch/eu-1-revert-prod-web`. It is a sibling
 * of the cluster branch, never below it: git cannot hold both `a/b` and `a/b/c`.
 */
export function workloadBranch(cluster: string, purpose: string, ref: { namespace: string; name: string }): string {
  return clusterBranch(`${cluster}-${purpose}-${ref.namespace}-${ref.name}`);
}

export type UpsertAction = 'created' | 'updated' | 'unchanged';

/**
 * Updates the open PR from spec.head into spec.base, or creates one; a concurrent create (422/409) falls
 * back to update. An open PR that already has this title and body is left alone ('unchanged').
 */
export async function upsertPullRequest(prs: PullRequests, spec: PullRequestSpec): Promise<{ pr: PullRequest; action: UpsertAction }> {
  const found = await prs.find(spec.head, spec.base);
  if (found?.state === 'open') {
    if (found.title === spec.title && found.body === spec.body) return { pr: found, action: 'unchanged' };
    return { pr: await prs.update(found, spec), action: 'updated' };
  }
  try {
    return { pr: await prs.create(spec), action: 'created' };
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 422 && err.status !== 409)) throw err;
    const raced = await prs.find(spec.head, spec.base);
    if (raced?.state !== 'open') throw err;
    return { pr: await prs.update(raced, spec), action: 'updated' };
  }
}

export interface ProposeOptions {
  /** the PR branch, e.g. clusterBranch(cluster) */
  readonly branch: string;
  /** keep the changes the branch already proposes (default true; false for a one-off PR) */
  readonly carryOver?: boolean;
  /** PR title; default the commit title */
  readonly title?: string;
  /** PR body; default a table of the proposed changes */
  readonly body?: string;
  readonly cluster?: string;
  /** checked before the push and before the API calls */
  readonly mayPush?: () => boolean;
}

export interface ProposeResult {
  /** pushed/up-to-date: the PR is open and current; unchanged: the base holds everything, no PR touched */
  readonly status: 'pushed' | 'up-to-date' | 'unchanged' | 'not-leader';
  readonly pr?: PullRequest;
  readonly action?: UpsertAction;
  readonly commit?: string;
  /** the caller's changes */
  readonly outcomes: readonly ChangeOutcome[];
  /** everything the branch proposes */
  readonly proposed: readonly ChangeOutcome[];
  /** withheld because a human closed a PR that proposed them (see BranchResult.rejected) */
  readonly rejected: readonly ChangeOutcome[];
  /** commits on the branch that kube-latch did not write (built on, never discarded) */
  readonly others: readonly string[];
  /** push attempts made (1 without a race) */
  readonly attempts: number;
}

export async function proposeChanges(repo: GitRepo, prs: PullRequests, changes: readonly Change[], o: ProposeOptions): Promise<ProposeResult> {
  // How the branch's last PR ended decides whether the branch starts over (merged, or closed: rejected).
  const last = await prs.find(o.branch, repo.branch);
  const ended =
    last && last.state !== 'open' && last.headSha ? { headSha: last.headSha, merged: last.state === 'merged', url: last.url, headRef: last.headRef } : undefined;
  const res = await repo.commitToBranch(changes, o.branch, {
    carryOver: o.carryOver ?? true,
    ended,
    ...(o.mayPush ? { mayPush: o.mayPush } : {}),
  });
  // 'proposed' means the open PR holds the value; with no open PR (its create failed last time) the PR
  // about to be opened is the new write.
  const open = last?.state === 'open';
  const outcomes = open ? res.outcomes : res.outcomes.map((x) => (x.status === 'proposed' ? { ...x, status: 'written' as const, reason: undefined } : x));
  const base = { outcomes, proposed: res.proposed, rejected: res.rejected, others: res.others, attempts: res.attempts, ...(res.commit ? { commit: res.commit } : {}) };
  // Nothing of ours left on the branch (others changed every value): leave their PR as it is.
  if (res.status === 'unchanged' || res.status === 'not-leader' || res.proposed.length === 0) return { status: res.status, ...base };
  if (o.mayPush && !o.mayPush()) return { status: 'not-leader', ...base };
  const spec = {
    head: o.branch,
    base: repo.branch,
    title: o.title ?? res.message?.title ?? 'kube-latch',
    body: o.body ?? pullRequestBody(res.proposed, o.cluster !== undefined ? { cluster: o.cluster } : {}),
  };
  // Looked up again after the push (the PR may have been closed or opened meanwhile).
  const { pr, action } = await upsertPullRequest(prs, spec);
  return { status: res.status, pr, action, ...base };
}
