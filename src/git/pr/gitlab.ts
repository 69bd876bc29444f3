// GitLab merge requests through the REST API v4 (only these endpoints):
//   GET  /projects/{id}/merge_requests?source_branch={branch}&target_branch={base}&state=all&order_by=created_at&sort=desc&per_page=100
//   POST /projects/{id}/merge_requests         {source_branch, target_branch, title, description}
//   PUT  /projects/{id}/merge_requests/{iid}   {title, description}
// {id} is the numeric project id or the URL-encoded path `group/sub/project`.
import { apiError, callApi, type ApiOptions, type ApiResponse } from './http.ts';
import type { PullRequest, PullRequestSpec, PullRequests } from './types.ts';

export interface GitLabOptions extends ApiOptions {
  /** numeric id or `group/project` path */
  readonly project: string;
}

export const GITLAB_API = 'https://gitlab.com/api/v4';

export class GitLabMergeRequests implements PullRequests {
  readonly provider = 'gitlab' as const;
  private readonly o: GitLabOptions;
  private readonly id: string;

  constructor(o: GitLabOptions) {
    if (o.project === '' || /\s/.test(o.project)) throw new Error(`GitLab project must be an id or "group/project", got "${o.project}"`);
    this.o = o;
    this.id = encodeURIComponent(o.project);
  }

  async find(head: string, base: string): Promise<PullRequest | null> {
    // The list holds every MR into this project, forks' included: a fork's MR from a branch of the same
    // name has another source_project_id, and is never ours. Filters are checked again on the answer.
    const q = new URLSearchParams({ source_branch: head, target_branch: base, state: 'all', order_by: 'created_at', sort: 'desc', per_page: '100' });
    const r = await this.call('GET', `/merge_requests?${q}`);
    if (r.status !== 200 || !Array.isArray(r.json)) throw apiError(`list merge requests for ${head}`, r);
    const mine = (r.json as unknown[]).filter((j) => isOurs(j, head, base)).map(toMr).filter((p): p is PullRequest => p !== null);
    return mine.find((p) => p.state === 'open') ?? mine[0] ?? null;
  }

  async create(spec: PullRequestSpec): Promise<PullRequest> {
    const r = await this.call('POST', '/merge_requests', {
      source_branch: spec.head,
      target_branch: spec.base,
      title: spec.title,
      description: spec.body,
    });
    const mr = r.status === 201 ? toMr(r.json) : null;
    if (!mr) throw apiError(`create merge request ${spec.head} → ${spec.base}`, r);
    return mr;
  }

  async update(pr: PullRequest, spec: Pick<PullRequestSpec, 'title' | 'body'>): Promise<PullRequest> {
    const r = await this.call('PUT', `/merge_requests/${pr.number}`, { title: spec.title, description: spec.body });
    const out = r.status === 200 ? toMr(r.json) : null;
    if (!out) throw apiError(`update merge request !${pr.number}`, r);
    return out;
  }

  private call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    return callApi(this.o, method, `/projects/${this.id}${path}`, (token) => ({ 'private-token': token }), body);
  }
}

/** From `head` into `base` within one project: source_project_id is the target project (this one). */
function isOurs(j: unknown, head: string, base: string): boolean {
  if (typeof j !== 'object' || j === null) return false;
  const o = j as Record<string, unknown>;
  const src = o['source_project_id'];
  return o['source_branch'] === head && o['target_branch'] === base && typeof src === 'number' && src === o['target_project_id'];
}

function toMr(j: unknown): PullRequest | null {
  if (typeof j !== 'object' || j === null) return null;
  const o = j as Record<string, unknown>;
  if (typeof o['iid'] !== 'number' || typeof o['web_url'] !== 'string') return null;
  // 'locked' is an MR being merged right now: still open.
  const state = o['state'] === 'merged' ? 'merged' : o['state'] === 'closed' ? 'closed' : 'open';
  return {
    number: o['iid'],
    url: o['web_url'],
    state,
    headRef: `refs/merge-requests/${o['iid']}/head`,
    ...(typeof o['sha'] === 'string' ? { headSha: o['sha'] } : {}),
    ...(typeof o['title'] === 'string' ? { title: o['title'] } : {}),
    ...(typeof o['description'] === 'string' || o['description'] === null ? { body: (o['description'] as string | null) ?? '' } : {}),
  };
}
