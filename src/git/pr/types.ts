// The provider-neutral face of a pull request (GitHub) or merge request (GitLab).

export interface PullRequest {
  /** GitHub number, GitLab iid */
  readonly number: number;
  readonly url: string;
  /** merged: accepted into the target; closed: closed without merging (a human rejected it) */
  readonly state: 'open' | 'closed' | 'merged';
  /** the head commit the PR points at (for a closed PR, the branch tip when it was closed) */
  readonly headSha?: string | undefined;
  /** the ref in the repository that keeps the head commit, also after the branch is deleted */
  readonly headRef?: string | undefined;
  /** as the provider holds them now: an update that would change neither is not sent */
  readonly title?: string | undefined;
  readonly body?: string | undefined;
}

export interface PullRequestSpec {
  /** the source branch, e.g. kube-latch/prod-eu */
  readonly head: string;
  /** the target branch */
  readonly base: string;
  readonly title: string;
  readonly body: string;
}

export interface PullRequests {
  readonly provider: 'github' | 'gitlab';
  /**
   * The PR/MR from `head` in this very repository/project (never a fork's branch of the same name) into
   * `base`: the open one if there is one, else the most recent closed or merged one, else null.
   */
  find(head: string, base: string): Promise<PullRequest | null>;
  create(spec: PullRequestSpec): Promise<PullRequest>;
  update(pr: PullRequest, spec: Pick<PullRequestSpec, 'title' | 'body'>): Promise<PullRequest>;
}
