// GitLab merge requests through the REST API v4 (only these endpoints):
//   GET  /projects/{id}/merge_requests?source_branch={branch}&state=opened
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

  async findOpen(head: string): Promise<PullRequest | null> {
    const r = await this.call('GET', `/merge_requests?source_branch=${encodeURIComponent(head)}&state=opened`);
    if (r.status !== 200 || !Array.isArray(r.json)) throw apiError(`list merge requests for ${head}`, r);
    const found = (r.json as unknown[]).map(toMr).filter((p): p is PullRequest => p !== null);
    return found[0] ?? null;
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

function toMr(j: unknown): PullRequest | null {
  if (typeof j !== 'object' || j === null) return null;
  const o = j as Record<string, unknown>;
  return typeof o['iid'] === 'number' && typeof o['web_url'] === 'string' ? { number: o['iid'], url: o['web_url'] } : null;
}
