// GitHub pull requests through the REST API (only these endpoints):
//   GET   /repos/{owner}/{repo}/pulls?head={owner}:{branch}&base={base}&state=all&sort=created&direction=desc&per_page=100
//   POST  /repos/{owner}/{repo}/pulls            {title, head, base, body}
//   PATCH /repos/{owner}/{repo}/pulls/{number}   {title, body}
import { apiError, callApi, type ApiOptions, type ApiResponse } from './http.ts';
import type { PullRequest, PullRequestSpec, PullRequests } from './types.ts';

export interface GitHubOptions extends ApiOptions {
  /** `owner/repo` */
  readonly repo: string;
}

export const GITHUB_API = 'https://api.github.com';

export class GitHubPullRequests implements PullRequests {
  readonly provider = 'github' as const;
  private readonly o: GitHubOptions;
  private readonly owner: string;
  private readonly name: string;

  constructor(o: GitHubOptions) {
    const m = /^([^/\s]+)\/([^/\s]+)$/.exec(o.repo);
    if (!m) throw new Error(`GitHub repository must be "owner/repo", got "${o.repo}"`);
    this.o = o;
    this.owner = m[1]!;
    this.name = m[2]!;
  }

  async find(head: string, base: string): Promise<PullRequest | null> {
    // `head=owner:branch` leaves out forks' branches of the same name, `base` other targets; the answer
    // is checked again, so that a proxy or an API that ignored a filter cannot make us adopt a stranger's PR.
    const q = new URLSearchParams({ head: `${this.owner}:${head}`, base, state: 'all', sort: 'created', direction: 'desc', per_page: '100' });
    const r = await this.call('GET', `/pulls?${q}`);
    if (r.status !== 200 || !Array.isArray(r.json)) throw apiError(`list pull requests for ${head}`, r);
    const mine = (r.json as unknown[]).filter((j) => this.isOurs(j, head, base)).map(toPr).filter((p): p is PullRequest => p !== null);
    return mine.find((p) => p.state === 'open') ?? mine[0] ?? null;
  }

  /** head is `branch` in this repository (not a fork) and base is `base` in this repository. */
  private isOurs(j: unknown, head: string, base: string): boolean {
    const o = j as { head?: { ref?: unknown; repo?: { full_name?: unknown } | null }; base?: { ref?: unknown; repo?: { full_name?: unknown } | null } } | null;
    const self = `${this.owner}/${this.name}`.toLowerCase();
    const repoOf = (side: { repo?: { full_name?: unknown } | null } | undefined) => {
      const name = side?.repo?.full_name;
      return typeof name === 'string' ? name.toLowerCase() : undefined;
    };
    return o?.head?.ref === head && o.base?.ref === base && repoOf(o.head) === self && repoOf(o.base) === self;
  }

  async create(spec: PullRequestSpec): Promise<PullRequest> {
    const r = await this.call('POST', '/pulls', { title: spec.title, head: spec.head, base: spec.base, body: spec.body });
    const pr = r.status === 201 ? toPr(r.json) : null;
    if (!pr) throw apiError(`create pull request ${spec.head} → ${spec.base}`, r);
    return pr;
  }

  async update(pr: PullRequest, spec: Pick<PullRequestSpec, 'title' | 'body'>): Promise<PullRequest> {
    const r = await this.call('PATCH', `/pulls/${pr.number}`, { title: spec.title, body: spec.body });
    const out = r.status === 200 ? toPr(r.json) : null;
    if (!out) throw apiError(`update pull request #${pr.number}`, r);
    return out;
  }

  private call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const p = `/repos/${encodeURIComponent(this.owner)}/${encodeURIComponent(this.name)}${path}`;
    return callApi(this.o, method, p, (token) => ({
      authorization: `Bearer ${token}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
    }), body);
  }
}

function toPr(j: unknown): PullRequest | null {
  if (typeof j !== 'object' || j === null) return null;
  const o = j as Record<string, unknown>;
  if (typeof o['number'] !== 'number' || typeof o['html_url'] !== 'string') return null;
  const sha = (o['head'] as { sha?: unknown } | undefined)?.sha;
  const state = o['state'] === 'open' ? 'open' : o['merged_at'] ? 'merged' : 'closed';
  return {
    number: o['number'],
    url: o['html_url'],
    state,
    headRef: `refs/pull/${o['number']}/head`,
    ...(typeof sha === 'string' ? { headSha: sha } : {}),
    ...(typeof o['title'] === 'string' ? { title: o['title'] } : {}),
    // GitHub answers null for an empty body
    ...(typeof o['body'] === 'string' || o['body'] === null ? { body: (o['body'] as string | null) ?? '' } : {}),
  };
}
