// Local stand-ins for the GitHub and GitLab REST endpoints that src/git/pr calls, and nothing else:
// same paths, query parameters, auth headers, status codes and JSON shapes as the documented APIs.
//   GitHub: GET/POST /repos/{owner}/{repo}/pulls, PATCH /repos/{owner}/{repo}/pulls/{number}
//   GitLab: GET/POST /api/v4/projects/{id}/merge_requests, PUT /api/v4/projects/{id}/merge_requests/{iid}
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
  state: 'open' | 'closed';
  title: string;
  body: string;
  head: string;
  base: string;
}

export interface Stub {
  readonly apiUrl: string;
  readonly requests: StubRequest[];
  readonly prs: StubPr[];
  stop(): Promise<void>;
}

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

export async function startGitHubStub(tls: TestTls, token: string, owner: string, repo: string): Promise<Stub> {
  const prs: StubPr[] = [];
  const base = `/repos/${owner}/${repo}/pulls`;
  const view = (p: StubPr) => ({
    number: p.number,
    state: p.state,
    title: p.title,
    body: p.body,
    html_url: `https://github.example/${owner}/${repo}/pull/${p.number}`,
    head: { ref: p.head, label: `${owner}:${p.head}` },
    base: { ref: p.base },
  });
  const { server, apiUrl, requests } = await serve(tls, '', (req, send) => {
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    if (!req.headers['user-agent']) return send(403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header' });
    const url = new URL(req.path, 'https://x');
    if (url.pathname === base && req.method === 'GET') {
      const head = url.searchParams.get('head');
      const state = url.searchParams.get('state') ?? 'open';
      return send(200, prs.filter((p) => (head === null || `${owner}:${p.head}` === head) && (state === 'all' || p.state === state)).map(view));
    }
    if (url.pathname === base && req.method === 'POST') {
      const b = req.body as Partial<StubPr> | undefined;
      if (!b || typeof b.title !== 'string' || typeof b.head !== 'string' || typeof b.base !== 'string') {
        return send(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'missing_field' }] });
      }
      if (prs.some((p) => p.state === 'open' && p.head === b.head && p.base === b.base)) {
        return send(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${owner}:${b.head}.` }] });
      }
      const pr: StubPr = { number: prs.length + 1, state: 'open', title: b.title, body: b.body ?? '', head: b.head, base: b.base };
      prs.push(pr);
      return send(201, view(pr));
    }
    const m = new RegExp(`^${base}/(\\d+)$`).exec(url.pathname);
    if (m && req.method === 'PATCH') {
      const pr = prs.find((p) => p.number === Number(m[1]));
      if (!pr) return send(404, { message: 'Not Found' });
      const b = req.body as Partial<StubPr>;
      if (typeof b.title === 'string') pr.title = b.title;
      if (typeof b.body === 'string') pr.body = b.body;
      if (b.state === 'open' || b.state === 'closed') pr.state = b.state;
      return send(200, view(pr));
    }
    return send(404, { message: 'Not Found' });
  });
  return { apiUrl, requests, prs, stop: stopper(server) };
}

export async function startGitLabStub(tls: TestTls, token: string, projectPath: string): Promise<Stub> {
  const prs: StubPr[] = [];
  const base = `/projects/${encodeURIComponent(projectPath)}/merge_requests`;
  const view = (p: StubPr) => ({
    iid: p.number,
    id: 1000 + p.number,
    state: p.state === 'open' ? 'opened' : 'closed',
    title: p.title,
    description: p.body,
    source_branch: p.head,
    target_branch: p.base,
    web_url: `https://gitlab.example/${projectPath}/-/merge_requests/${p.number}`,
  });
  const { server, apiUrl, requests } = await serve(tls, '/api/v4', (req, send) => {
    if (req.headers['private-token'] !== token) return send(401, { message: '401 Unauthorized' });
    const url = new URL(req.path, 'https://x');
    // GitLab takes the project id URL-encoded; the raw path keeps %2F, so compare before decoding.
    const rawPath = req.path.split('?')[0]!;
    if (rawPath === base && req.method === 'GET') {
      const src = url.searchParams.get('source_branch');
      const state = url.searchParams.get('state');
      return send(200, prs.filter((p) => (src === null || p.head === src) && (state === null || state === 'all' || view(p).state === state)).map(view));
    }
    if (rawPath === base && req.method === 'POST') {
      const b = req.body as Record<string, unknown> | undefined;
      if (!b || typeof b['source_branch'] !== 'string' || typeof b['target_branch'] !== 'string' || typeof b['title'] !== 'string') {
        return send(400, { message: 'source_branch, target_branch, title are missing' });
      }
      if (prs.some((p) => p.state === 'open' && p.head === b['source_branch'])) {
        return send(409, { message: [`Another open merge request already exists for this source branch: !${prs.find((p) => p.head === b['source_branch'])!.number}`] });
      }
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
      if (b['state_event'] === 'close') pr.state = 'closed';
      return send(200, view(pr));
    }
    if (rawPath.startsWith('/projects/') && !rawPath.startsWith(base)) return send(404, { message: '404 Project Not Found' });
    return send(404, { message: '404 Not found' });
  });
  return { apiUrl, requests, prs, stop: stopper(server) };
}
