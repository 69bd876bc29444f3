// The provider-neutral face of a pull request (GitHub) or merge request (GitLab).

export interface PullRequest {
  /** GitHub number, GitLab iid */
  readonly number: number;
  readonly url: string;
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
  /** the open PR/MR whose source is `head`, or null */
  findOpen(head: string): Promise<PullRequest | null>;
  create(spec: PullRequestSpec): Promise<PullRequest>;
  update(pr: PullRequest, spec: Pick<PullRequestSpec, 'title' | 'body'>): Promise<PullRequest>;
}
