// The watcher's GitState (src/watcher/types.ts) over a GitRepo: lookup() from the index, refresh() as
// a sync, write() as one commit (push mode) or one PR update (pr mode). Never rejects from write().
import type { DueLatch, GitState, Lookup, WriteOptions, WriteResult } from '../watcher/types.ts';
import type { ReplicasChange } from './changes.ts';
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
  return {
    repo,
    async refresh() {
      await repo.sync();
    },
    lookup(w) {
      return toLookup(repo.index.locate(w));
    },
    async write(latches: readonly DueLatch[], opts: WriteOptions): Promise<WriteResult> {
      const changes = latches.map(toChange);
      const back = (c: readonly { change: unknown; status: string }[], status: string) =>
        c.filter((x) => x.status === status).map((x) => latches[changes.indexOf(x.change as ReplicasChange)]!).filter(Boolean);
      try {
        if (o.mode === 'push') {
          const r = await repo.commitAndPush(changes, { mayPush: () => opts.mayPush() });
          if (r.status === 'not-leader') return { ok: false, notLeader: true };
          return { ok: true, written: back(r.outcomes, 'written'), unchanged: back(r.outcomes, 'already'), ...(r.commit ? { revision: r.commit } : {}) };
        }
        const r = await proposeChanges(repo, o.pullRequests, changes, { branch: branch!, cluster: o.cluster, mayPush: () => opts.mayPush() });
        if (r.status === 'not-leader') return { ok: false, notLeader: true };
        return { ok: true, written: back(r.outcomes, 'written'), unchanged: back(r.outcomes, 'already'), ...(r.pr ? { revision: r.pr.url } : {}) };
      } catch (err) {
        if (err instanceof GitError || err instanceof ApiError) return { ok: false, error: err.message };
        return { ok: false, error: `git write failed: ${(err as Error).message.split('\n')[0]}` };
      }
    },
  };
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
