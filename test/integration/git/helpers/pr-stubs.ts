// Local stand-ins for the GitHub and GitLab REST endpoints that src/git/pr calls, and nothing else:
// same paths, query parameters, auth headers, status codes and JSON shapes as the documented APIs.
//   GitHub: GET/POST /repos/{owner}/{repo}/pulls, PATCH /repos/{owner}/{repo}/pulls/{number}
//   GitLab: GET/POST /api/v4/projects/{id}/merge_requests, PUT /api/v4/projects/{id}/merge_requests/{iid}
// List filters behave as documented: GitHub `head=user:ref` matches the head repository's owner, so a
// fork's branch of the same name is left out, and `base` the target branch; GitLab's list of a project
// holds MRs from forks too (another source_project_id) and filters by source_branch and target_branch.
// Both list newest first. Uniqueness on create is the providers': one open PR per head (owner:branch)
// and base on GitHub, one open MR per source project, source branch and target branch on GitLab.
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TestTls } from './tls.ts';

export interface StubRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface StubPr {
  number: number;
  state: 'open' | 'closed' | 'merged';
  title: string;
  body: string;
  head: string;
  base: string;
  /** a PR from a fork: GitHub the fork's owner, GitLab the source project's id (default: this repository) */
  fork?: string | number;
  /** the head commit, frozen when the PR is closed or merged; an open one follows the branch */
  headSha?: string;
}

export interface Stub {
  readonly apiUrl: string;
  readonly requests: StubRequest[];
  readonly prs: StubPr[];
  /** a PR opened by someone else (e.g. from a fork, or into another branch) */
  add(pr: Omit<StubPr, 'number' | 'state'>): StubPr;
  /**
   * What a human's "close" (merged: false) or "merge" does: the PR ends at the branch's current tip;
   * deleteBranch: the "delete branch" button too (the provider keeps the PR's head ref)
   */
  end(number: number, how: 'closed' | 'merged', o?: { deleteBranch?: boolean }): void;
  stop(): Promise<void>;
}

export interface StubOptions {
  /** the bare repo behind the API, to report head commits as the provider does */
  readonly bare?: string;
}

/**
 * The ref each provider keeps for a PR's head commit, in the repository itself, also after the branch
 * is deleted: GitHub refs/pull/N/head, GitLab refs/merge-requests/N/head.
 */
export type HeadRefs = (n: number) => string;
const githubHeadRef: HeadRefs = (n) => `refs/pull/${n}/head`;
const gitlabHeadRef: HeadRefs = (n) => `refs/merge-requests/${n}/head`;

/** Points the PR's head ref at `sha`, as the provider does on every push to an open PR's branch. */
function keepHeadRef(bare: string | undefined, ref: string, sha: string | undefined): void {
  if (bare && sha) execFileSync('git', ['update-ref', ref, sha], { cwd: bare });
}

function tipOf(bare: string | undefined, branch: string): string | undefined {
  if (!bare) return undefined;
  try {
    return execFileSync('git', ['rev-parse', '-q', '--verify', `refs/heads/${branch}`], { cwd: bare, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function book(prs: StubPr[], bare: string | undefined, headRef: HeadRefs) {
  return {
    add(p: Omit<StubPr, 'number' | 'state'>): StubPr {
      const pr: StubPr = { ...p, number: prs.length + 1, state: 'open' };
      prs.push(pr);
      return pr;
    },
    end(number: number, how: 'closed' | 'merged', o: { deleteBranch?: boolean } = {}): void {
      const pr = prs.find((p) => p.number === number);
      if (!pr || pr.state !== 'open') throw new Error(`stub: no open PR ${number}`);
      const sha = tipOf(bare, pr.head);
      pr.state = how;
      if (sha) pr.headSha = sha;
      if (!pr.fork) keepHeadRef(bare, headRef(pr.number), sha);
      if (o.deleteBranch && bare) execFileSync('git', ['update-ref', '-d', `refs/heads/${pr.head}`], { cwd: bare });
    },
  };
}

/** Newest first, as both APIs list by default. */
const newestFirst = (a: StubPr, b: StubPr) => b.number - a.number;

type Handler = (req: StubRequest, send: (status: number, json: unknown) => void) => void;

async function serve(tls: TestTls, prefix: string, handler: Handler): Promise<{ server: Server; apiUrl: string; requests: StubRequest[] }> {
  const requests: StubRequest[] = [];
  const server = createServer({ cert: tls.cert, key: tls.key }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      let body: unknown = undefined;
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (text !== '') {
        if (!String(req.headers['content-type']).startsWith('application/json')) return send(415, { message: 'Unsupported Media Type' });
        try {
          body = JSON.parse(text);
        } catch {
          return send(400, { message: 'Problems parsing JSON' });
        }
      }
      const r: StubRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body };
      requests.push(r);
      if (!r.path.startsWith(prefix)) return send(404, { message: 'Not Found' });
      handler({ ...r, path: r.path.slice(prefix.length) }, send);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { server, apiUrl: `https://127.0.0.1:${port}${prefix}`, requests };
}

function stopper(server: Server): () => Promise<void> {
  return () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
}

export async function startGitHubStub(tls: TestTls, token: string, owner: string, repo: string, o: StubOptions = {}): Promise<Stub> {
  const prs: StubPr[] = [];
  const base = `/repos/${owner}/${repo}/pulls`;
  const headOwner = (p: StubPr) => (typeof p.fork === 'string' ? p.fork : owner);
  const view = (p: StubPr) => {
    if (p.state === 'open' && !p.fork) keepHeadRef(o.bare, githubHeadRef(p.number), tipOf(o.bare, p.head));
    return viewOf(p);
  };
  const viewOf = (p: StubPr) => ({
    number: p.number,
    state: p.state === 'open' ? 'open' : 'closed',
    merged_at: p.state === 'merged' ? '2026-01-01T00:00:00Z' : null,
    title: p.title,
    body: p.body,
    html_url: `https://github.example/${owner}/${repo}/pull/${p.number}`,
    head: { ref: p.head, label: `${headOwner(p)}:${p.head}`, sha: p.state === 'open' ? (tipOf(o.bare, p.head) ?? p.headSha) : p.headSha, repo: { full_name: `${headOwner(p)}/${repo}` } },
    base: { ref: p.base, repo: { full_name: `${owner}/${repo}` } },
  });
  const { server, apiUrl, requests } = await serve(tls, '', (req, send) => {
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    if (!req.headers['user-agent']) return send(403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header' });
    const url = new URL(req.path, 'https://x');
    if (url.pathname === base && req.method === 'GET') {
      // head: "user:ref-name"; base: the target branch; state: open (default), closed (merged included), all.
      const head = url.searchParams.get('head');
      const target = url.searchParams.get('base');
      const state = url.searchParams.get('state') ?? 'open';
      const perPage = Number(url.searchParams.get('per_page') ?? '30');
      const wanted = (p: StubPr) => (state === 'all' ? true : state === 'open' ? p.state === 'open' : p.state !== 'open');
      const list = prs.filter((p) => (head === null || `${headOwner(p)}:${p.head}` === head) && (target === null || p.base === target) && wanted(p));
      return send(200, list.sort(newestFirst).slice(0, perPage).map(view));
    }
    if (url.pathname === base && req.method === 'POST') {
      const b = req.body as Partial<StubPr> | undefined;
      if (!b || typeof b.title !== 'string' || typeof b.head !== 'string' || typeof b.base !== 'string') {
        return send(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'missing_field' }] });
      }
      // head is "branch" (this repository) or "user:branch".
      const [who, branch] = b.head.includes(':') ? b.head.split(':', 2) as [string, string] : [owner, b.head];
      if (prs.some((p) => p.state === 'open' && p.head === branch && headOwner(p) === who && p.base === b.base)) {
        return send(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${who}:${branch}.` }] });
      }
      const pr: StubPr = { number: prs.length + 1, state: 'open', title: b.title, body: b.body ?? '', head: branch, base: b.base, ...(who !== owner ? { fork: who } : {}) };
      prs.push(pr);
      return send(201, view(pr));
    }
    const m = new RegExp(`^${base}/(\\d+)$`).exec(url.pathname);
    if (m && req.method === 'PATCH') {
      const pr = prs.find((p) => p.number === Number(m[1]));
      if (!pr) return send(404, { message: 'Not Found' });
      const b = req.body as Record<string, unknown>;
      if (typeof b['title'] === 'string') pr.title = b['title'];
      if (typeof b['body'] === 'string') pr.body = b['body'];
      if (b['state'] === 'closed' && pr.state === 'open') book(prs, o.bare, githubHeadRef).end(pr.number, 'closed');
      if (b['state'] === 'open' && pr.state === 'closed') pr.state = 'open';
      return send(200, view(pr));
    }
    return send(404, { message: 'Not Found' });
  });
  return { apiUrl, requests, prs, ...book(prs, o.bare, githubHeadRef), stop: stopper(server) };
}

/** The numeric id the GitLab stub gives the project. */
export const GITLAB_PROJECT_ID = 42;

export async function startGitLabStub(tls: TestTls, token: string, projectPath: string, o: StubOptions = {}): Promise<Stub> {
  const prs: StubPr[] = [];
  const base = `/projects/${encodeURIComponent(projectPath)}/merge_requests`;
  const sourceProject = (p: StubPr) => (typeof p.fork === 'number' ? p.fork : GITLAB_PROJECT_ID);
  const stateOf = (p: StubPr) => (p.state === 'open' ? 'opened' : p.state);
  const view = (p: StubPr) => {
    if (p.state === 'open' && sourceProject(p) === GITLAB_PROJECT_ID) keepHeadRef(o.bare, gitlabHeadRef(p.number), tipOf(o.bare, p.head));
    return viewOf(p);
  };
  const viewOf = (p: StubPr) => ({
    iid: p.number,
    id: 1000 + p.number,
    project_id: GITLAB_PROJECT_ID,
    source_project_id: sourceProject(p),
    target_project_id: GITLAB_PROJECT_ID,
    state: stateOf(p),
    title: p.title,
    description: p.body,
    source_branch: p.head,
    target_branch: p.base,
    sha: p.state === 'open' && sourceProject(p) === GITLAB_PROJECT_ID ? (tipOf(o.bare, p.head) ?? p.headSha) : p.headSha,
    web_url: `https://gitlab.example/${projectPath}/-/merge_requests/${p.number}`,
  });
  const { server, apiUrl, requests } = await serve(tls, '/api/v4', (req, send) => {
    if (req.headers['private-token'] !== token) return send(401, { message: '401 Unauthorized' });
    const url = new URL(req.path, 'https://x');
    // GitLab takes the project id URL-encoded; the raw path keeps %2F, so compare before decoding.
    const rawPath = req.path.split('?')[0]!;
    if (rawPath === base && req.method === 'GET') {
      // Every MR whose target is this project, from forks too; state: opened, closed, merged, locked, all.
      const src = url.searchParams.get('source_branch');
      const target = url.searchParams.get('target_branch');
      const state = url.searchParams.get('state') ?? 'all';
      const perPage = Number(url.searchParams.get('per_page') ?? '20');
      const list = prs.filter((p) => (src === null || p.head === src) && (target === null || p.base === target) && (state === 'all' || stateOf(p) === state));
      return send(200, list.sort(newestFirst).slice(0, perPage).map(view));
    }
    if (rawPath === base && req.method === 'POST') {
      const b = req.body as Record<string, unknown> | undefined;
      if (!b || typeof b['source_branch'] !== 'string' || typeof b['target_branch'] !== 'string' || typeof b['title'] !== 'string') {
        return send(400, { message: 'source_branch, target_branch, title are missing' });
      }
      const same = prs.find((p) => p.state === 'open' && sourceProject(p) === GITLAB_PROJECT_ID && p.head === b['source_branch'] && p.base === b['target_branch']);
      if (same) return send(409, { message: [`Another open merge request already exists for this source branch: !${same.number}`] });
      const pr: StubPr = { number: prs.length + 1, state: 'open', title: b['title'], body: typeof b['description'] === 'string' ? b['description'] : '', head: b['source_branch'], base: b['target_branch'] };
      prs.push(pr);
      return send(201, view(pr));
    }
    const m = /^(.*)\/(\d+)$/.exec(rawPath);
    if (m && m[1] === base && req.method === 'PUT') {
      const pr = prs.find((p) => p.number === Number(m[2]));
      if (!pr) return send(404, { message: '404 Not found' });
      const b = req.body as Record<string, unknown>;
      if (typeof b['title'] === 'string') pr.title = b['title'];
      if (typeof b['description'] === 'string') pr.body = b['description'];
      if (b['state_event'] === 'close' && pr.state === 'open') book(prs, o.bare, gitlabHeadRef).end(pr.number, 'closed');
      if (b['state_event'] === 'reopen' && pr.state === 'closed') pr.state = 'open';
      return send(200, view(pr));
    }
    if (rawPath.startsWith('/projects/') && !rawPath.startsWith(base)) return send(404, { message: '404 Project Not Found' });
    return send(404, { message: '404 Not found' });
  });
  return { apiUrl, requests, prs, ...book(prs, o.bare, gitlabHeadRef), stop: stopper(server) };
}
