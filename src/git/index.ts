// src/git: everything that touches the repository. Public API (see docs/git.md for the rules):
//
//   RepoIndex.build(workTree, paths)         scan *.yaml/*.yml under paths (multi-document files)
//   index.update(changedFiles)               re-parse only those files (after a fetch, or a write)
//   index.locate({namespace, kind, name, source?})
//       → {state:'located', via, file, line, docIndex, path, value, needsInsert}
//       | {state:'ambiguous'|'unlocated', candidates: ['file:line'…], reason}
//     order: marker `# kube-latch: ns/Kind/name` → kube-latch.io/source → discovery
//   index.locateDocument(ref)                the workload's own document (for annotations)
//   index.brokenFiles / index.markerProblems files that do not parse / markers that point nowhere
//
//   setScalar(text, docIndex, path, value)   surgical edit, pure string → string (inserts missing keys)
//   setReplicas(text, docIndex, value, path?)
//
//   GitRepo.open({url, branch, workDir, paths, author, sign, auth, logger})
//   repo.sync()                              fetch + hard reset + incremental reindex
//   repo.index                               the RepoIndex of the work tree
//   repo.commitAndPush(changes, {mayPush})   push mode: one commit, race-safe, never empty
//   repo.commitToBranch(changes, branch, {carryOver, ended, mayPush})   PR mode's branch commit (built on others' commits)
//   proposeChanges(repo, pullRequests, changes, {branch, carryOver, title, body, mayPush})
//   createPullRequests({provider, apiUrl, tokenFile, repoUrl}) → PullRequests (GitHub / GitLab)
//   openGitState(options)                    the watcher's GitState (src/watcher/types.ts)
//
// Errors: GitError {kind, retryable} with one secret-free line; EditError for a refused edit.
export { RepoIndex, normalizeRepoPath, isYamlFile, type IndexStats } from './repo-index.ts';
export { setScalar, setReplicas, getScalar, renderString, EditError, type ScalarValue } from './edit.ts';
export { applyChanges, dedupe, changeKey, type Change, type ReplicasChange, type FieldChange, type ChangeOutcome, type OutcomeStatus } from './changes.ts';
export { commitMessage, renderMessage, parseTrailers, parseRejected, pullRequestBody, describe, type CommitMessage } from './message.ts';
export {
  GitRepo,
  parseAuthor,
  DEFAULT_AUTHOR,
  type Author,
  type GitRepoOptions,
  type RetryOptions,
  type PushResult,
  type PushStatus,
  type BranchResult,
  type BranchOptions,
  type EndedProposal,
  type SyncResult,
  type WriteOptions,
} from './repo.ts';
export { GitError, type GitErrorKind } from './exec.ts';
export { parseRemote, redactUrl, makeScrubber, type GitAuth, type Remote, type RemoteKind } from './auth.ts';
export {
  proposeChanges,
  upsertPullRequest,
  createPullRequests,
  clusterBranch,
  workloadBranch,
  repoSlug,
  GitHubPullRequests,
  GitLabMergeRequests,
  ApiError,
  type ProposeOptions,
  type ProposeResult,
  type ProviderOptions,
  type PullRequest,
  type PullRequestSpec,
  type PullRequests,
} from './pr/index.ts';
export { openGitState, toLookup, type GitStateOptions, type RepoGitState } from './git-state.ts';
export { refKey, matchKey, type WorkloadRef, type Location, type Located, type NotLocated, type DocumentLocation, type BrokenFile, type MarkerProblem, type PathKey, type Via } from './types.ts';
