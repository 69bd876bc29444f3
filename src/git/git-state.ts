// The watcher's GitState (src/watcher/types.ts) over a GitRepo: lookup() from the index, refresh() as
// a sync, write() as one commit (push mode) or one PR update (pr mode). Never rejects from write().
// ownLatches() and withdrawn() let the engine make the markers follow git (DESIGN §4) with nothing pending.
import type { DueLatch, GitState, Lookup, RefusedLatch, WriteNotice, WriteOptions, WriteResult } from '../watcher/types.ts';
import type { Change, ChangeOutcome, ReplicasChange } from './changes.ts';
import { GitError } from './exec.ts';
import { clusterBranch, proposeChanges, type PullRequests } from './pr/index.ts';
import { ApiError } from './pr/http.ts';
import { GitRepo, type GitRepoOptions } from './repo.ts';
import type { Location, WorkloadRef } from './types.ts';

export type GitStateOptions = GitRepoOptions &
  ({ readonly mode: 'push' } | { readonly mode: 'pr'; readonly pullRequests: PullRequests; readonly cluster: string });

export interface RepoGitState extends GitState {
  readonly repo: GitRepo;
}

/** Clones or reuses the work dir, builds the index, and returns the watcher's view of git. */
export async function openGitState(o: GitStateOptions): Promise<RepoGitState> {
  const repo = await GitRepo.open(o);
  const branch = o.mode === 'pr' ? clusterBranch(o.cluster) : undefined;
  const lookup = (w: WorkloadRef) => toLookup(repo.index.locate(w));
  /** a closed PR's proposal, read once per head commit */
  let closed: { sha: string; proposed: readonly Change[] } | undefined;
  return {
    repo,
    async refresh() {
      await repo.sync();
    },
    lookup,
    async ownLatches(file) {
      const last = await repo.lastCommitTo(file);
      return last?.byKubeLatch ? replicasOf(last.proposed) : [];
    },
    ...(o.mode === 'pr'
      ? {
          async withdrawn() {
            const last = await o.pullRequests.find(branch!, repo.branch);
            if (last?.state !== 'closed' || !last.headSha) return [];
            if (closed?.sha !== last.headSha) {
              const proposed = await repo.closedProposal({ headSha: last.headSha, merged: false, url: last.url, headRef: last.headRef });
              closed = { sha: last.headSha, proposed };
            }
            // A value the base holds now is git's, not the rejected proposal's: its marker stays.
            return replicasOf(closed.proposed).filter((w) => {
              const l = lookup(w.ref);
              return !(l.found && l.declared === w.to);
            });
          },
        }
      : {}),
    async write(latches: readonly DueLatch[], opts: WriteOptions): Promise<WriteResult> {
      const changes = latches.map(toChange);
      try {
        if (o.mode === 'push') {
          const r = await repo.commitAndPush(changes, { mayPush: () => opts.mayPush() });
          if (r.status === 'not-leader') return { ok: false, notLeader: true };
          return { ok: true, ...sortOutcomes(latches, changes, r.outcomes), ...(r.commit ? { revision: r.commit } : {}) };
        }
        const r = await proposeChanges(repo, o.pullRequests, changes, { branch: branch!, cluster: o.cluster, mayPush: () => opts.mayPush() });
        if (r.status === 'not-leader') return { ok: false, notLeader: true };
        const notices = prNotices(branch!, r.rejected, r.outcomes);
        const withdrawn = replicasOf(r.rejected.map((x) => x.change));
        return {
          ok: true,
          ...sortOutcomes(latches, changes, r.outcomes),
          ...(r.pr ? { revision: r.pr.url } : {}),
          ...(notices.length ? { notices } : {}),
          ...(withdrawn.length ? { withdrawn } : {}),
        };
      } catch (err) {
        if (err instanceof GitError || err instanceof ApiError) return { ok: false, error: err.message };
        return { ok: false, error: `git write failed: ${(err as Error).message.split('\n')[0]}` };
      }
    },
  };
}

/**
 * Every latch of the batch lands in exactly one list: written, unchanged, or refused with its reason, so
 * the engine can tell the operator about each one (an Event, a log line, a metric). A latch with no
 * outcome at all (the flow ended early) is refused as an error rather than dropped.
 */
function sortOutcomes(latches: readonly DueLatch[], changes: readonly ReplicasChange[], outcomes: readonly ChangeOutcome[]) {
  const written: DueLatch[] = [];
  const unchanged: DueLatch[] = [];
  const refused: RefusedLatch[] = [];
  latches.forEach((latch, i) => {
    const x = outcomes.find((y) => y.change === changes[i]);
    if (x?.status === 'written') written.push(latch);
    // the remote (or, in pr mode, the open proposal) already holds it: no new write
    else if (x?.status === 'already' || x?.status === 'proposed') unchanged.push(latch);
    else {
      const at = x?.file !== undefined ? `${x.file}${x.line !== undefined ? `:${x.line}` : ''}` : undefined;
      refused.push({
        latch,
        outcome: x?.status ?? 'error',
        reason: x?.reason ?? (x ? `not written${at ? ` at ${at}` : ''}` : 'the write made no decision for this latch'),
        candidates: x?.candidates ?? (at ? [at] : []),
      });
    }
  });
  return { written, unchanged, refused };
}

/** Events for PR mode: latches withheld after a human closed their PR, and values someone else set on the branch. */
function prNotices(branch: string, rejected: readonly ChangeOutcome[], outcomes: readonly ChangeOutcome[]): WriteNotice[] {
  const what = (o: ChangeOutcome) => (o.change.type === 'replicas' ? `replicas ${o.change.value}` : `${o.change.path.join('.')} = ${String(o.change.value)}`);
  const out: WriteNotice[] = rejected.map((o) => ({ ref: o.change.ref, type: 'Normal', reason: 'LatchRejected', message: `kube-latch: ${what(o)} ${o.reason ?? 'rejected'}` }));
  for (const o of outcomes) {
    if (o.status === 'stale' && o.reason?.startsWith(`${branch} `)) {
      out.push({ ref: o.change.ref, type: 'Normal', reason: 'LatchKeptBranchEdit', message: `kube-latch: not proposing ${what(o)}: ${o.reason}` });
    }
  }
  return out;
}

function replicasOf(changes: readonly Change[]): { ref: WorkloadRef; to: number }[] {
  return changes.flatMap((c) => (c.type === 'replicas' ? [{ ref: c.ref, to: c.value }] : []));
}

function toChange(l: DueLatch): ReplicasChange {
  const ref: WorkloadRef = l.location.via === 'source' ? { ...l.ref, source: l.location.file } : l.ref;
  return { type: 'replicas', ref, value: l.to, live: l.live, band: l.band, declared: l.from, ...(l.reason !== undefined ? { reason: l.reason } : {}) };
}

export function toLookup(loc: Location): Lookup {
  if (loc.state === 'located') {
    return { found: true, declared: loc.needsInsert ? null : loc.value, file: loc.file, line: loc.line, via: loc.via };
  }
  return { found: false, reason: loc.state === 'ambiguous' ? 'ambiguous' : 'none', candidates: loc.candidates, detail: loc.reason };
}
