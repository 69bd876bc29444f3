// `kube-latch diff`: declared (git) against live, with bands and states, one row per opted-in workload.
//   diffRows({workloads, hpas, locate, defaults}) → DiffRow[]   pure (rows.ts)
//   exitCodeFor(rows)                                          0 all in band, 1 otherwise
//   renderTable / toJson                                       pure output (render.ts)
//   openRepoSource({repo, branch, paths, auth})                the watcher's RepoIndex over a work tree or a shallow clone
//   readCluster(kc, {namespace})                                opted-in workloads and HPAs
export { diffRows, exitCodeFor, countStates, DIFF_STATES, type DiffRow, type DiffState, type DiffPolicy, type DiffInput, type DiffReport } from './rows.ts';
export { renderTable, toJson, summarize, stateLabel, DIFF_JSON_VERSION, type DiffMeta, type DiffJson, type DiffSummary } from './render.ts';
export { openRepoSource, git, validBranch, type RepoSource, type RepoSourceOptions } from './source.ts';
export { readCluster, type ClusterView, type ReadOptions } from './cluster.ts';
